"""Count tables of fixed-length sequences, in numpy, sharded by a hash.

FastqExampleGen counts millions of reads into a few hundred thousand unique
variable regions. Passing one Beam element per (sequence, read name) costs
far more than the counting itself, so counts travel as tables instead: a
worker turns its per-file Counter into one `Part` per shard (the sequences
as one byte string, the counts as an int64 array), and every shard merges
its parts from all files, lanes and workers with numpy. A sequence always
hashes to the same shard, in every process (the hash is computed here from
the bases, not Python's salted `hash`), so a shard's merge sees all of a
sequence's counts.

All sequences of a table have the same length (the experiment's
`sequence_length`; the read filters reject any other) and are ASCII.
"""

from typing import Dict
from typing import Iterable
from typing import List
from typing import NamedTuple
from typing import Sequence
from typing import Tuple

import numpy as np

# Multiplier of the polynomial hash (odd, so every bit of a base matters);
# uint64 arithmetic wraps, which numpy does silently for arrays.
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


class CountTableError(ValueError):
  """Sequences that cannot form a table (lengths differ, not ASCII)."""


class Part(NamedTuple):
  """One read name's counts of the sequences of one shard.

  Attributes:
    read_name: the experiment's read name the counts belong to.
    sequences: the sequences, concatenated (each `length` bytes).
    counts: int64, one per sequence.
  """

  read_name: str
  sequences: bytes
  counts: np.ndarray


class Table(NamedTuple):
  """Unique sequences in byte order with a count per read name.

  Attributes:
    sequences: [n, length] uint8 ASCII codes, rows sorted and unique.
    counts: [n, len(read names)] int64.
  """

  sequences: np.ndarray
  counts: np.ndarray

  def strings(self) -> List[str]:
    """The sequences as str (via UCS-4, no per-row decode)."""
    return as_strings(self.sequences)


def as_strings(matrix: np.ndarray) -> List[str]:
  """The rows of [n, L] ASCII codes as str (via UCS-4, no per-row decode)."""
  if not len(matrix):
    return []
  wide = np.ascontiguousarray(matrix, dtype=np.uint32)
  return wide.view(f'<U{matrix.shape[1]}').ravel().tolist()


def row_keys(matrix: np.ndarray) -> np.ndarray:
  """One `S<L>` bytes value per row of [n, L] codes, ordered as the bytes.

  No NULs occur in ASCII bases, so `S` values (which drop trailing NULs)
  compare exactly as the rows' bytes.
  """
  return np.ascontiguousarray(matrix).view(f'S{matrix.shape[1]}').ravel()


def matrix_of(sequences: bytes, length: int) -> np.ndarray:
  """[n, length] uint8 view of `length`-byte sequences concatenated."""
  if length <= 0 or len(sequences) % length:
    raise CountTableError(
      f'{len(sequences)} bytes are not whole sequences of length {length}'
    )
  return np.frombuffer(sequences, np.uint8).reshape(-1, length)


def shard_of(matrix: np.ndarray, num_shards: int) -> np.ndarray:
  """The shard (0..num_shards-1) of every row, the same in every process."""
  hashes = np.zeros(len(matrix), np.uint64)
  for column in matrix.T:
    hashes = hashes * _HASH_MULTIPLIER + column.astype(np.uint64)
  # The high bits mix every base; the low bits of a product mix fewer.
  return ((hashes >> np.uint64(32)) % np.uint64(num_shards)).astype(np.int64)


def parts_of(
  counts: Dict[str, int], read_name: str, length: int, num_shards: int
) -> Iterable[Tuple[int, Part]]:
  """(shard, Part) for every non-empty shard of one read name's counts.

  Args:
    counts: {sequence: count}, every sequence `length` ASCII characters.
    read_name: whose counts they are.
    length: the sequence length.
    num_shards: how many shards the sequences spread over.

  Raises:
    CountTableError: a sequence is not `length` ASCII characters.
  """
  if not counts:
    return
  text = ''.join(counts)
  if len(text) != length * len(counts) or not text.isascii():
    bad = next(s for s in counts if len(s) != length or not s.isascii())
    raise CountTableError(
      f'read name {read_name!r}: sequence {bad!r} is not {length} ASCII bases'
    )
  matrix = matrix_of(text.encode('ascii'), length)
  values = np.fromiter(counts.values(), np.int64, len(counts))
  shards = shard_of(matrix, num_shards)
  order = np.argsort(shards, kind='stable')
  bounds = np.searchsorted(shards[order], np.arange(num_shards + 1))
  for shard in range(num_shards):
    rows = order[bounds[shard] : bounds[shard + 1]]
    if rows.size:
      yield shard, Part(read_name, matrix[rows].tobytes(), values[rows])


def merge(parts: Iterable[Part], read_names: Sequence[str], length: int):
  """The Table of every part: counts summed per sequence and read name.

  Args:
    parts: any number of parts, of any read names (lanes and flushes of
      one read name sum up).
    read_names: the table's count columns, in order.
    length: the sequence length.

  Raises:
    CountTableError: a part names an unknown read name, or its counts do
      not match its sequences.
  """
  column_of = {name: i for i, name in enumerate(read_names)}
  matrices, columns, values = [], [], []
  for part in parts:
    if part.read_name not in column_of:
      raise CountTableError(
        f'counts of read name {part.read_name!r}, which is not one of '
        f'{list(read_names)}'
      )
    matrix = matrix_of(part.sequences, length)
    if len(matrix) != len(part.counts):
      raise CountTableError(
        f'read name {part.read_name!r}: {len(matrix)} sequences but '
        f'{len(part.counts)} counts'
      )
    matrices.append(matrix)
    columns.append(np.full(len(matrix), column_of[part.read_name], np.int64))
    values.append(np.asarray(part.counts, np.int64))
  if not matrices:
    return Table(
      np.empty((0, length), np.uint8), np.zeros((0, len(read_names)), np.int64)
    )
  unique, inverse = np.unique(
    row_keys(np.concatenate(matrices)), return_inverse=True
  )
  cells = inverse.ravel() * len(read_names) + np.concatenate(columns)
  # float64 weights are exact for counts below 2**53.
  table = np.bincount(
    cells,
    weights=np.concatenate(values),
    minlength=len(unique) * len(read_names),
  )
  table = table.astype(np.int64).reshape(len(unique), len(read_names))
  sequences = np.frombuffer(unique.tobytes(), np.uint8).reshape(-1, length)
  return Table(sequences, table)
