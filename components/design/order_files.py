"""Order files for designed aptamers: FASTA and a microarray spot layout.

Both writers are atomic: they write a temporary file in the destination's
directory and `os.replace` it into place, so a failure (for example a bad
sequence found half-way) leaves no partial file and keeps any old file.

FASTA headers are `>design_000001 walker=sampling step=1 seed=ACGT...
parent=ACGT... distance=3 score=1.25` for a `Design` (distance = Hamming
distance to the seed; score omitted when NaN) and `>sequence_000001` for a
plain string; `names` replaces the first word. Records are numbered from 1 in
input order and sequences wrap at 80 columns.

The microarray layout follows the original's `collapse_and_write` and
`seq_to_array_seq`: each distinct sequence gets `spots_per_sequence` spots
(10), and is padded at its 3' end with T up to the spot length (60 nt on the
Agilent arrays) because arrays attach the 3' end, so the T linker lifts the
aptamer off the surface.
"""

import csv
import math
import os
import tempfile
from typing import Callable
from typing import Iterable
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import TextIO
from typing import Union

from components.design import constraints as constraints_lib
from components.design import walkers

FASTA_LINE_WIDTH = 80
SPOT_LENGTH = 60
SPOTS_PER_SEQUENCE = 10

SequenceLike = Union[str, walkers.Design]


class OrderFileError(ValueError):
  """A sequence or parameter cannot go into an order file."""


class MicroarraySpot(NamedTuple):
  """One spot of a microarray: its id, its sequence's id, what is printed."""

  spot_id: str
  sequence_id: str
  sequence: str


def _atomic_write(path: str, write: Callable[[TextIO], None]) -> None:
  """Calls write(file) on a temp file, then moves it to `path`."""
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  handle, temp_path = tempfile.mkstemp(
    dir=directory, prefix=f'.{os.path.basename(path)}.', suffix='.tmp'
  )
  try:
    with os.fdopen(handle, 'w', newline='') as temp_file:
      write(temp_file)
      temp_file.flush()
      os.fsync(temp_file.fileno())
    os.chmod(temp_path, 0o644)
    os.replace(temp_path, path)
  except BaseException:
    if os.path.exists(temp_path):
      os.unlink(temp_path)
    raise


def _checked_sequence(item: SequenceLike, number: int) -> str:
  sequence = item.sequence if isinstance(item, walkers.Design) else item
  if not isinstance(sequence, str) or not constraints_lib.is_dna(sequence):
    raise OrderFileError(
      f'record {number} ({sequence!r}) must be a non-empty string of A, C, G '
      f'and T'
    )
  return sequence


def _default_id(item: SequenceLike, number: int) -> str:
  kind = 'design' if isinstance(item, walkers.Design) else 'sequence'
  return f'{kind}_{number:06d}'


def _checked_name(name: str, number: int) -> str:
  if (
    not isinstance(name, str)
    or not name.strip()
    or any(character in name for character in '\r\n')
  ):
    raise OrderFileError(
      f'record {number}: name {name!r} must be non-empty, on one line'
    )
  return name.strip()


def fasta_header(item: SequenceLike, number: int, name: Optional[str] = None):
  """The header line (without '>') of record `number` (1-based)."""
  header = _default_id(item, number) if name is None else name
  if isinstance(item, walkers.Design):
    header += (
      f' walker={item.walker} step={item.step} seed={item.seed} '
      f'parent={item.parent} distance={item.distance_to_seed}'
    )
    if not math.isnan(item.score):
      header += f' score={item.score:.6g}'
  return header


def write_fasta(
  path: str,
  designs_or_sequences: Iterable[SequenceLike],
  names: Optional[Sequence[str]] = None,
) -> int:
  """Writes a FASTA file, one record per design or sequence, atomically.

  Args:
    path: Destination file.
    designs_or_sequences: `Design`s or DNA strings (may be a generator).
    names: Optional record names, one per item, replacing the default
      `design_NNNNNN` / `sequence_NNNNNN`.

  Returns:
    The number of records written.

  Raises:
    OrderFileError: Naming the record if a sequence is not DNA, a name is
      bad or the number of names differs from the number of records; no
      file is left behind.
  """
  written = 0

  def write(file: TextIO) -> None:
    nonlocal written
    for number, item in enumerate(designs_or_sequences, start=1):
      sequence = _checked_sequence(item, number)
      name = None
      if names is not None:
        if number > len(names):
          raise OrderFileError(
            f'{len(names)} names for more records (record {number})'
          )
        name = _checked_name(names[number - 1], number)
      file.write(f'>{fasta_header(item, number, name)}\n')
      for start in range(0, len(sequence), FASTA_LINE_WIDTH):
        file.write(sequence[start : start + FASTA_LINE_WIDTH] + '\n')
      written = number
    if names is not None and len(names) != written:
      raise OrderFileError(f'{len(names)} names for {written} records')

  _atomic_write(path, write)
  return written


def microarray_layout(
  sequences: Iterable[SequenceLike],
  spot_length: int = SPOT_LENGTH,
  pad_base: str = 'T',
  spots_per_sequence: int = SPOTS_PER_SEQUENCE,
  sequence_ids: Optional[Sequence[str]] = None,
  spot_prefix: str = '',
) -> List[MicroarraySpot]:
  """The spots of a microarray order: each distinct sequence, 3'-padded.

  Args:
    sequences: `Design`s or DNA strings. A repeated sequence gets spots once
      (its first occurrence's id), like the original.
    spot_length: Length printed per spot (60 on the original arrays).
    pad_base: Base appended at the 3' end up to `spot_length`.
    spots_per_sequence: Spots (replicates) per distinct sequence.
    sequence_ids: Optional id per input item; default `design_NNNNNN` /
      `sequence_NNNNNN` numbered from 1 in input order, matching
      `write_fasta`.
    spot_prefix: Optional prefix of every spot id (keeps ids unique across
      arrays).

  Returns:
    Spots `<prefix>_<sequence_id>_<k>_of_<n>`, grouped by sequence.

  Raises:
    OrderFileError: If a sequence is longer than `spot_length` or not DNA,
      or a parameter is invalid.
  """
  if spot_length < 1 or spots_per_sequence < 1:
    raise OrderFileError(
      f'spot_length ({spot_length}) and spots_per_sequence '
      f'({spots_per_sequence}) must be >= 1'
    )
  if len(pad_base) != 1 or pad_base not in constraints_lib.DNA_BASES:
    raise OrderFileError(f'pad_base {pad_base!r} must be one of A, C, G, T')
  prefix = f'{spot_prefix}_' if spot_prefix else ''
  spots, placed = [], set()
  count = 0
  for number, item in enumerate(sequences, start=1):
    count = number
    sequence = _checked_sequence(item, number)
    if len(sequence) > spot_length:
      raise OrderFileError(
        f'record {number} ({sequence!r}) has {len(sequence)} nt, longer than '
        f'the {spot_length} nt spot'
      )
    if sequence_ids is not None:
      if number > len(sequence_ids):
        raise OrderFileError(
          f'{len(sequence_ids)} sequence ids for more records (record {number})'
        )
      sequence_id = _checked_name(sequence_ids[number - 1], number)
    else:
      sequence_id = _default_id(item, number)
    if sequence in placed:
      continue
    placed.add(sequence)
    padded = sequence + pad_base * (spot_length - len(sequence))
    for replicate in range(1, spots_per_sequence + 1):
      spot_id = f'{prefix}{sequence_id}_{replicate}_of_{spots_per_sequence}'
      spots.append(MicroarraySpot(spot_id, sequence_id, padded))
  if sequence_ids is not None and len(sequence_ids) != count:
    raise OrderFileError(
      f'{len(sequence_ids)} sequence ids for {count} records'
    )
  return spots


def write_microarray_csv(
  path: str, sequences: Iterable[SequenceLike], **layout_options
) -> int:
  """Writes `microarray_layout(sequences, **layout_options)` as CSV.

  Columns: spot_id, sequence_id, sequence. The layout is computed before
  anything is written and the write is atomic.

  Args:
    path: Destination file.
    sequences: `Design`s or DNA strings.
    **layout_options: Passed to `microarray_layout`.

  Returns:
    The number of spots written.
  """
  spots = microarray_layout(sequences, **layout_options)

  def write(file: TextIO) -> None:
    writer = csv.writer(file, lineterminator='\n')
    writer.writerow(MicroarraySpot._fields)
    writer.writerows(spots)

  _atomic_write(path, write)
  return len(spots)
