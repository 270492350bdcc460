"""Reads sequence files to score and writes tables of scores.

Inputs, by extension (each optionally `.gz`) or by an explicit `fmt`:

  * FASTA (`.fa`, `.fasta`, `.fna`): `>` header lines, each record's
    sequence possibly over several lines; a record's name is the header's
    first word.
  * plain text (`.txt`, `.seq`): one sequence per line; blank lines and
    lines starting with `#` are ignored.
  * CSV (`.csv`): a `sequence` column; an `id` or `name` column, if there is
    one, names the records.

Letters are upper-cased; anything but A/C/G/T is an error that names the
file, the line, the letter and its column. Outputs (`write_table`) are CSV
or Parquet, written to a temporary file and renamed into place, so a
failure never leaves a half-written table.
"""

import csv
import dataclasses
import gzip
import io
import os
import tempfile
from typing import Dict
from typing import Iterator
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Union

import numpy as np

FASTA = 'fasta'
TEXT = 'text'
CSV = 'csv'
FORMATS = (FASTA, TEXT, CSV)
_EXTENSIONS = {
  '.fa': FASTA,
  '.fasta': FASTA,
  '.fna': FASTA,
  '.txt': TEXT,
  '.seq': TEXT,
  '.csv': CSV,
}
SEQUENCE_COLUMN = 'sequence'
NAME_COLUMNS = ('id', 'name')  # The first one present names CSV records.
_BASES = frozenset('ACGT')

Column = Union[np.ndarray, Sequence]


class SequenceFileError(ValueError):
  """A sequence file that cannot be read; the message names file and line."""


@dataclasses.dataclass
class SequenceRecords:
  """The sequences of a file, in file order.

  Attributes:
    sequences: upper-case A/C/G/T strings.
    names: one per sequence (FASTA headers' first word, a CSV `id` or
      `name` column), or None when the file names none.
  """

  sequences: List[str]
  names: Optional[List[str]] = None


def detect_format(path: str) -> str:
  """`FASTA`, `TEXT` or `CSV` from the extension (a `.gz` is looked past)."""
  stem = path[:-3] if path.lower().endswith('.gz') else path
  extension = os.path.splitext(stem)[1].lower()
  if extension not in _EXTENSIONS:
    raise SequenceFileError(
      f'{path}: unknown sequence file extension {extension!r}; expected one '
      f'of {sorted(_EXTENSIONS)} (optionally .gz) or an explicit format '
      f'{list(FORMATS)}'
    )
  return _EXTENSIONS[extension]


def _open_text(path: str) -> io.TextIOBase:
  try:
    if path.lower().endswith('.gz'):
      return gzip.open(path, 'rt', newline='')
    return open(path, newline='')
  except OSError as e:
    raise SequenceFileError(f'{path}: cannot open: {e}') from e


def _lines(path: str) -> Iterator[Tuple[int, str]]:
  """(1-based line number, line without its end) of a text or gzip file."""
  with _open_text(path) as f:
    try:
      for number, line in enumerate(f, start=1):
        yield number, line.rstrip('\r\n')
    except (OSError, EOFError, UnicodeDecodeError) as e:
      raise SequenceFileError(f'{path}: unreadable: {e}') from e


def _checked(
  sequence: str,
  path: str,
  line: int,
  sequence_length: Optional[int],
  first_column: int = 1,
) -> str:
  """`sequence` upper-cased; raises naming the bad letter or length."""
  sequence = sequence.upper()
  if not _BASES.issuperset(sequence):
    for i, letter in enumerate(sequence):
      if letter not in _BASES:
        raise SequenceFileError(
          f'{path}: line {line}, column {first_column + i}: letter '
          f'{letter!r} is not one of A/C/G/T'
        )
  if sequence_length is not None and len(sequence) != sequence_length:
    raise SequenceFileError(
      f'{path}: line {line}: sequence of length {len(sequence)}, expected '
      f'{sequence_length}'
    )
  return sequence


def _read_text(path, sequence_length) -> SequenceRecords:
  sequences = []
  for number, line in _lines(path):
    stripped = line.strip()
    if not stripped or stripped.startswith('#'):
      continue
    column = len(line) - len(line.lstrip()) + 1
    sequences.append(_checked(stripped, path, number, sequence_length, column))
  return SequenceRecords(sequences)


def _read_fasta(path, sequence_length) -> SequenceRecords:
  sequences, names = [], []
  header_line = 0
  parts: List[str] = []
  first_line = 0  # Where the current record's sequence starts.

  def finish():
    if not parts:
      raise SequenceFileError(
        f'{path}: line {header_line}: FASTA record {names[-1]!r} has no '
        'sequence'
      )
    sequence = ''.join(parts)
    if sequence_length is not None and len(sequence) != sequence_length:
      raise SequenceFileError(
        f'{path}: line {first_line}: FASTA record {names[-1]!r} has a '
        f'sequence of length {len(sequence)}, expected {sequence_length}'
      )
    sequences.append(sequence)

  for number, line in _lines(path):
    stripped = line.strip()
    if stripped.startswith('>'):
      if header_line:
        finish()
      header_line, parts = number, []
      words = stripped[1:].split()
      names.append(words[0] if words else '')
    elif stripped and not stripped.startswith(';'):  # `;`: old comments.
      if not header_line:
        raise SequenceFileError(
          f"{path}: line {number}: sequence before the first FASTA header ('>')"
        )
      if not parts:
        first_line = number
      column = len(line) - len(line.lstrip()) + 1
      parts.append(_checked(stripped, path, number, None, column))
  if header_line:
    finish()
  return SequenceRecords(sequences, names)


def _read_csv(path, sequence_length) -> SequenceRecords:
  with _open_text(path) as f:
    try:
      reader = csv.reader(f)
      header = next(reader, None)
      if header is None:
        return SequenceRecords([])
      header = [h.strip() for h in header]
      if SEQUENCE_COLUMN not in header:
        raise SequenceFileError(
          f'{path}: line 1: no {SEQUENCE_COLUMN!r} column (columns: {header})'
        )
      index = header.index(SEQUENCE_COLUMN)
      name_index = next(
        (header.index(n) for n in NAME_COLUMNS if n in header), None
      )
      sequences, names = [], []
      for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
          continue
        if len(row) <= index or not row[index].strip():
          raise SequenceFileError(
            f'{path}: line {number}: empty {SEQUENCE_COLUMN!r} value'
          )
        sequences.append(
          _checked(row[index].strip(), path, number, sequence_length)
        )
        if name_index is not None:
          names.append(row[name_index] if len(row) > name_index else '')
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
      raise SequenceFileError(f'{path}: unreadable: {e}') from e
  return SequenceRecords(sequences, names if name_index is not None else None)


_READERS = {FASTA: _read_fasta, TEXT: _read_text, CSV: _read_csv}


def read_records(
  path: str,
  sequence_length: Optional[int] = None,
  fmt: Optional[str] = None,
) -> SequenceRecords:
  """The sequences of a FASTA, text or CSV file (gzip or not), and names.

  Args:
    path: the file.
    sequence_length: every sequence must have this length; None: any.
    fmt: `FASTA`, `TEXT` or `CSV`; None: from the extension.

  Raises:
    SequenceFileError: unknown format, unreadable or empty file, a letter
      that is not A/C/G/T, a sequence of the wrong length, no `sequence`
      column, or a FASTA record without sequence (the message names the
      file and the line).
  """
  fmt = fmt or detect_format(path)
  if fmt not in _READERS:
    raise SequenceFileError(
      f'{path}: unknown format {fmt!r}; expected one of {list(FORMATS)}'
    )
  if not os.path.isfile(path):
    raise SequenceFileError(f'{path}: no such file')
  records = _READERS[fmt](path, sequence_length)
  if not records.sequences:
    raise SequenceFileError(f'{path}: line 1: no sequences in the file')
  return records


def read_sequences(
  path: str,
  sequence_length: Optional[int] = None,
  fmt: Optional[str] = None,
) -> List[str]:
  """The sequences of a file, upper-cased, in order (see `read_records`)."""
  return read_records(path, sequence_length, fmt).sequences


def table_kind(path: str) -> str:
  lower = path.lower()
  if lower.endswith('.parquet'):
    return 'parquet'
  if lower.endswith(('.csv', '.csv.gz')):
    return 'csv'
  raise SequenceFileError(
    f'{path}: unknown table extension; expected .csv, .csv.gz or .parquet'
  )


def write_table(path: str, columns: Dict[str, Column]) -> None:
  """Writes equally long columns to CSV or Parquet (by extension), atomically.

  The table goes to a temporary file in the same directory, renamed over
  `path` only once it is complete: on any failure nothing is left at `path`
  (an older file there stays as it was).

  Raises:
    SequenceFileError: unknown extension or columns of different lengths.
  """
  import pandas as pd  # Only writers need it.

  kind = table_kind(path)
  lengths = {name: len(values) for name, values in columns.items()}
  if len(set(lengths.values())) > 1:
    raise SequenceFileError(f'{path}: columns of different lengths: {lengths}')
  frame = pd.DataFrame({name: np.asarray(v) for name, v in columns.items()})
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  handle, temporary = tempfile.mkstemp(
    prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=directory
  )
  os.close(handle)
  try:
    if kind == 'parquet':
      frame.to_parquet(temporary, index=False)
    else:
      compression = 'gzip' if path.lower().endswith('.gz') else None
      frame.to_csv(temporary, index=False, compression=compression)
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise
