"""The random starting library: families of a parent and its point mutants.

Parents are uniform random sequences, a fraction of them with binding motifs
planted at random positions. Parents are kept more than 2 * max_mutations
substitutions apart, so no mutant can collide with or sit closer to another
family: the family id is a true sequence cluster id.
"""

import dataclasses
from typing import Sequence
from typing import Tuple

import numpy as np

from simulation import binding
from simulation.config import SimulationConfigError

BASES = 'ACGT'
_BASE_BYTES = np.frombuffer(BASES.encode('ascii'), np.uint8)
_MAX_REDRAWS = 100
# Candidate pairs are checked this many at a time (bounds the memory).
_PAIR_CHUNK = 1 << 20
# SWAR popcount constants and a multiplier that folds a long block key.
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_FOLD = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = {n: np.uint64(n) for n in (1, 2, 4, 56)}


@dataclasses.dataclass(frozen=True)
class Library:
  """The library members, family by family, parent first.

  Attributes:
    codes: [num_members, sequence_length] uint8, indices into BASES.
    sequences: the members as strings over ACGT.
    cluster: [num_members] int64 family id, starting at 1.
    is_parent: [num_members] bool.
  """

  codes: np.ndarray
  sequences: Tuple[str, ...]
  cluster: np.ndarray
  is_parent: np.ndarray


def decode(codes: np.ndarray) -> Tuple[str, ...]:
  """Turns [n, L] base indices into n strings."""
  length = codes.shape[1]
  raw = np.ascontiguousarray(_BASE_BYTES[codes]).view(f'S{length}').ravel()
  return tuple(s.decode('ascii') for s in raw)


def encode(sequence: str) -> np.ndarray:
  """Turns a string over ACGT into base indices."""
  return np.array([BASES.index(c) for c in sequence], np.uint8)


def make_library(
  num_families: int,
  mutants_per_family: int,
  max_mutations: int,
  sequence_length: int,
  motif_fraction: float,
  rng: np.random.Generator,
  motifs: Sequence[binding.Motif] = binding.DEFAULT_MOTIFS,
  plantings=binding.DEFAULT_PLANTINGS,
) -> Library:
  """Draws the library.

  Args:
    num_families: number of parents.
    mutants_per_family: distinct point mutants per parent.
    max_mutations: each mutant has 1..max_mutations substitutions.
    sequence_length: sequence length (nt).
    motif_fraction: fraction of parents that carry planted motifs.
    rng: the random generator.
    motifs: the motifs that can be planted.
    plantings: ((motif indices), probability) pairs; which motif set a
      motif-carrying parent gets.

  Returns:
    The Library.

  Raises:
    SimulationConfigError: the sequence space is too small for the requested
      number of well-separated families or distinct mutants.
  """
  parents = _draw_parents(
    num_families,
    sequence_length,
    motif_fraction,
    2 * max_mutations + 1,
    rng,
    motifs,
    plantings,
  )
  mutants = _draw_mutants(parents, mutants_per_family, max_mutations, rng)
  # Family by family: parent, then its mutants.
  codes = np.concatenate(
    [parents[:, None, :], mutants.reshape(num_families, -1, sequence_length)],
    axis=1,
  ).reshape(-1, sequence_length)
  family_size = 1 + mutants_per_family
  cluster = np.repeat(
    np.arange(1, num_families + 1, dtype=np.int64), family_size
  )
  is_parent = np.zeros(len(codes), bool)
  is_parent[::family_size] = True
  return Library(codes, decode(codes), cluster, is_parent)


def _plant(row, motif_set, motifs, rng):
  """Writes the motifs of motif_set into row at random disjoint positions."""
  order = rng.permutation(list(motif_set))
  pieces = [encode(motifs[i].sequence) for i in order]
  free = len(row) - sum(len(p) for p in pieces)
  # Stars and bars: random gap sizes before each motif.
  cuts = np.sort(rng.integers(0, free + 1, len(pieces)))
  gaps = np.diff(np.concatenate([[0], cuts]))
  pos = 0
  for gap, piece in zip(gaps, pieces):
    pos += gap
    row[pos : pos + len(piece)] = piece
    pos += len(piece)


def _draw_parent_rows(rows, length, motif_sets, motifs, plantings, rng):
  out = rng.integers(0, 4, (len(rows), length), dtype=np.uint8)
  for k, i in enumerate(rows):
    if motif_sets[i] >= 0:
      _plant(out[k], plantings[motif_sets[i]][0], motifs, rng)
  return out


def _draw_parents(
  num, length, motif_fraction, min_distance, rng, motifs, plantings
):
  """Random parents, pairwise at least min_distance substitutions apart."""
  num_carriers = int(round(num * motif_fraction))
  probs = np.array([p for _, p in plantings], np.float64)
  motif_sets = np.full(num, -1, np.int64)
  carriers = rng.choice(num, num_carriers, replace=False)
  motif_sets[carriers] = rng.choice(
    len(plantings), num_carriers, p=probs / probs.sum()
  )
  codes = _draw_parent_rows(
    np.arange(num), length, motif_sets, motifs, plantings, rng
  )
  for _ in range(_MAX_REDRAWS):
    close = _too_close(codes, min_distance)
    if not close.size:
      return codes
    codes[close] = _draw_parent_rows(
      close, length, motif_sets, motifs, plantings, rng
    )
  raise SimulationConfigError(
    f'could not draw {num} parents of length {length} at least '
    f'{min_distance} substitutions apart (2 * max_mutations + 1); use a '
    'longer sequence_length, fewer families or a smaller max_mutations'
  )


def _too_close(codes, min_distance):
  """Indices j with some i < j closer than min_distance (Hamming).

  Exact and sub-quadratic by the pigeonhole principle: split the positions
  into min_distance disjoint blocks; two rows closer than min_distance agree
  on every position of at least one block. So only rows sharing a block's
  content are compared, block by block, and those comparisons are exact.
  The blocks are strided (positions b, b + m, b + 2m, ...), so a planted
  motif, contiguous, fills no block and does not pile its carriers into
  one bucket.

  Args:
    codes: [n, L] integers in [0, 256) (base indices in [0, 4) pack
      tighter).
    min_distance: an int.

  Returns:
    The sorted int64 indices.

  Raises:
    ValueError: codes is not 2-D or holds values outside [0, 256).
  """
  codes = np.asarray(codes)
  if codes.ndim != 2:
    raise ValueError(f'codes must be [n, L], got shape {codes.shape}')
  num, length = codes.shape
  close = np.zeros(num, bool)
  if num < 2 or min_distance <= 0:
    return np.flatnonzero(close)
  if min_distance > length:
    # Every pair is at most length apart.
    close[1:] = True
    return np.flatnonzero(close)
  low, high = int(codes.min()), int(codes.max())
  if low < 0 or high > 255:
    raise ValueError(
      f'codes must lie in [0, 256) to be compared, got [{low}, {high}]'
    )
  bits = 2 if high < 4 else 8
  words = _pack(codes, bits)
  for block in range(min_distance):
    key = _block_key(codes[:, block::min_distance], bits)
    _mark_close_in_buckets(key, words, bits, min_distance, close)
  return np.flatnonzero(close)


def _pack(codes, bits):
  """[n, L] symbols as [num_words, n] uint64, 64 // bits symbols per word."""
  num, length = codes.shape
  per_word = 64 // bits
  words = np.zeros((-(-length // per_word), num), np.uint64)
  for pos in range(length):
    shift = np.uint64(bits * (pos % per_word))
    words[pos // per_word] |= codes[:, pos].astype(np.uint64) << shift
  return words


def _block_key(block_codes, bits):
  """One uint64 per row, equal for rows with equal block_codes.

  A block longer than one word is folded into one; unequal blocks may then
  share a key, which only adds candidates (all compared exactly).
  """
  words = _pack(block_codes, bits)
  key = words[0].copy()
  for word in words[1:]:
    key = key * _FOLD + word
  return key


def _mark_close_in_buckets(key, words, bits, min_distance, close):
  """Sets close[j] for rows j within min_distance of an earlier same-key row."""
  num = len(key)
  # Stable: within a bucket, sorted position order is row order.
  order = np.argsort(key, kind='stable')
  sorted_key = key[order]
  sorted_words = words[:, order]
  starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
  sizes = np.diff(np.r_[starts, num])
  # Rows from each sorted position to the end of its bucket, itself included.
  left = np.repeat(starts + sizes, sizes) - np.arange(num)
  # Pairs (p, p + gap) of sorted positions in one bucket, gap by gap.
  gap = 1
  firsts = np.flatnonzero(left > gap)
  while firsts.size:
    for chunk in range(0, firsts.size, _PAIR_CHUNK):
      p = firsts[chunk : chunk + _PAIR_CHUNK]
      q = p + gap
      dist = _mismatches(sorted_words[0][p] ^ sorted_words[0][q], bits)
      for word in sorted_words[1:]:
        # Most pairs are already too far apart after one word.
        near = dist < min_distance
        p, q, dist = p[near], q[near], dist[near]
        dist += _mismatches(word[p] ^ word[q], bits)
      close[order[q[dist < min_distance]]] = True
    gap += 1
    firsts = firsts[left[firsts] > gap]


def _mismatches(xor, bits):
  """Non-zero bits-wide fields in each uint64 of xor."""
  x = xor
  if bits == 8:
    x = x | (x >> _SHIFT[4])
    x |= x >> _SHIFT[2]
  # One bit per field, at its lowest position, set when the field is not 0.
  x = (x | (x >> _SHIFT[1])) & (_M1 if bits == 2 else _H01)
  x = (x & _M2) + ((x >> _SHIFT[2]) & _M2)
  x = (x + (x >> _SHIFT[4])) & _M4
  return (x * _H01) >> _SHIFT[56]


def _mutate(parent_rows, max_mutations, rng):
  """Substitutes 1..max_mutations distinct positions of each row."""
  num_mut = rng.integers(1, max_mutations + 1, len(parent_rows))
  return substitute(parent_rows, num_mut, rng)


def substitute(
  rows: np.ndarray, num_mutations: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
  """Changes exactly num_mutations[i] distinct positions of row i.

  Args:
    rows: [n, L] uint8 base indices.
    num_mutations: [n] substitutions per row, each in [0, L].
    rng: the random generator.

  Returns:
    [n, L] uint8; every substituted position holds a different base.
  """
  n, length = rows.shape
  # The first num_mutations positions of a random permutation: distinct
  # sites; a shift of 1..3 (mod 4) always changes the base.
  mask = _lowest(rng.random((n, length)), np.asarray(num_mutations))
  shift = rng.integers(1, 4, (n, length), dtype=np.uint8)
  return ((rows + mask * shift) % 4).astype(np.uint8)


def _lowest(values, counts):
  """Marks the counts[i] smallest entries of each row of values.

  The same mask as `argsort(argsort(values)) < counts[:, None]`, without
  the two full sorts: a partial sort finds each row's counts[i]-th and next
  smallest values, and where they differ the mask is "at most the former".
  Rows where they tie (argsort would break the tie) take the full sorts.
  """
  n, length = values.shape
  counts = counts.astype(np.int64)
  most = int(counts.max()) if n else 0
  if most <= 0:
    return np.zeros((n, length), bool)
  if most >= length:
    return _argsort_rank(values) < counts[:, None]
  smallest = np.partition(values, most, axis=1)[:, : most + 1]
  smallest.sort(axis=1)
  rows = np.arange(n)
  kth = smallest[rows, np.maximum(counts - 1, 0)]
  mask = (values <= kth[:, None]) & (counts > 0)[:, None]
  tied = (counts > 0) & (kth == smallest[rows, counts])
  if tied.any():
    mask[tied] = _argsort_rank(values[tied]) < counts[tied, None]
  return mask


def _argsort_rank(values):
  return np.argsort(values, axis=1).argsort(axis=1)


def _draw_mutants(parents, per_family, max_mutations, rng):
  """[num_families * per_family, L] mutants, all distinct."""
  num, length = parents.shape
  family = np.repeat(np.arange(num), per_family)
  mutants = _mutate(parents[family], max_mutations, rng)
  for _ in range(_MAX_REDRAWS):
    # Parents are far apart, so duplicates can only be in-family mutants.
    dup = _repeats(mutants)
    if not dup.size:
      return mutants
    mutants[dup] = _mutate(parents[family[dup]], max_mutations, rng)
  raise SimulationConfigError(
    f'could not draw {per_family} distinct mutants with at most '
    f'{max_mutations} substitutions per parent of length {length}; lower '
    'mutants_per_family or raise max_mutations'
  )


def _repeats(codes):
  """Sorted indices of the rows equal to an earlier row.

  The rows np.unique(codes, axis=0, return_index=True) does not return,
  from a stable sort of the rows packed into words.

  Args:
    codes: [n, L] uint8.
  """
  num, length = codes.shape
  if num < 2:
    return np.zeros(0, np.int64)
  if not length:
    return np.arange(1, num)
  words = _pack(codes, 2 if codes.max() < 4 else 8)
  # lexsort is stable: in a run of equal rows the earliest comes first.
  order = np.lexsort(words[::-1])
  ordered = words[:, order]
  same = np.all(ordered[:, 1:] == ordered[:, :-1], axis=0)
  return np.sort(order[1:][same])
