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
# Pairwise distances are computed in row blocks of this many parents.
_BLOCK = 256


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
  """Indices j with some i < j closer than min_distance (Hamming)."""
  num = len(codes)
  close = np.zeros(num, bool)
  for start in range(0, num, _BLOCK):
    block = codes[start : start + _BLOCK]
    dist = (block[:, None, :] != codes[None, :, :]).sum(-1)
    i, j = np.nonzero(dist < min_distance)
    close[j[j > i + start]] = True
  return np.flatnonzero(close)


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
  rank = np.argsort(rng.random((n, length)), axis=1).argsort(axis=1)
  mask = rank < np.asarray(num_mutations)[:, None]
  shift = rng.integers(1, 4, (n, length), dtype=np.uint8)
  return ((rows + mask * shift) % 4).astype(np.uint8)


def _draw_mutants(parents, per_family, max_mutations, rng):
  """[num_families * per_family, L] mutants, all distinct."""
  num, length = parents.shape
  family = np.repeat(np.arange(num), per_family)
  mutants = _mutate(parents[family], max_mutations, rng)
  for _ in range(_MAX_REDRAWS):
    # Parents are far apart, so duplicates can only be in-family mutants.
    _, first = np.unique(mutants, axis=0, return_index=True)
    dup = np.setdiff1d(np.arange(len(mutants)), first)
    if not dup.size:
      return mutants
    mutants[dup] = _mutate(parents[family[dup]], max_mutations, rng)
  raise SimulationConfigError(
    f'could not draw {per_family} distinct mutants with at most '
    f'{max_mutations} substitutions per parent of length {length}; lower '
    'mutants_per_family or raise max_mutations'
  )
