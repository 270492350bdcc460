"""Unseen sequences with their true energies, for testing generalisation.

Two kinds, none of them a library member and none repeated:

  random  uniform random sequences of the variable-region length
          (hamming 0, no seed sequence)
  mutant  point mutants of the library's tightest true target binders (the
          seeds): for every seed and every Hamming distance 1..max, a fixed
          number of mutants with that many distinct substituted positions,
          each substitution changing the base

Their energies come from the simulation's landscape, the noise term from a
random stream of its own, so they are as true as the library's.
"""

import dataclasses
from typing import Sequence
from typing import Tuple

import numpy as np

from simulation import library as library_lib
from simulation.config import SimulationConfigError
from simulation.landscapes import Landscape

UNSEEN_FILENAME = 'unseen_sequences.csv.gz'
UNSEEN_COLUMNS = (
  'sequence',
  'kind',
  'hamming',
  'seed_sequence',
  'target_dg',
  'serum_dg',
  'target_kd',
  'serum_kd',
)
RANDOM_KIND = 'random'
MUTANT_KIND = 'mutant'
_MAX_REDRAWS = 100


@dataclasses.dataclass(frozen=True)
class UnseenSet:
  """The unseen sequences, random ones first, then mutants seed by seed.

  Attributes:
    sequences: the sequences.
    kind: RANDOM_KIND or MUTANT_KIND per sequence.
    hamming: [n] int64 substitutions from the seed (0 for random ones).
    seed_sequence: the seed of each mutant ('' for random ones).
    target_dg: [n] true log10 Kd for the target.
    serum_dg: [n] true log10 Kd for serum.
  """

  sequences: Tuple[str, ...]
  kind: Tuple[str, ...]
  hamming: np.ndarray
  seed_sequence: Tuple[str, ...]
  target_dg: np.ndarray
  serum_dg: np.ndarray

  @property
  def target_kd(self) -> np.ndarray:
    return 10.0**self.target_dg

  @property
  def serum_kd(self) -> np.ndarray:
    return 10.0**self.serum_dg


def draw_unseen(
  library_codes: np.ndarray,
  library_sequences: Sequence[str],
  library_target_dg: np.ndarray,
  config,
  landscape: Landscape,
  sequence_rng: np.random.Generator,
  truth_rng: np.random.Generator,
) -> UnseenSet:
  """Draws the unseen set of a simulated library.

  Args:
    library_codes: [num_members, L] base indices of the library.
    library_sequences: the same members as strings.
    library_target_dg: their true target dG (the seeds are the lowest).
    config: the SimulationConfig (unseen_* sizes, energy parameters).
    landscape: the library's landscape.
    sequence_rng: the generator of the sequences.
    truth_rng: the generator of the energies' noise term.

  Returns:
    The UnseenSet.

  Raises:
    SimulationConfigError: too few distinct sequences at some distance.
  """
  length = library_codes.shape[1]
  num_seeds = min(config.unseen_seeds, len(library_sequences))
  seeds = np.argsort(library_target_dg, kind='stable')[:num_seeds]
  distances = np.arange(1, config.unseen_max_hamming + 1)
  # One row per mutant: its seed (member index) and its distance.
  plan_seed = np.repeat(seeds, len(distances) * config.unseen_mutants)
  plan_distance = np.tile(
    np.repeat(distances, config.unseen_mutants), num_seeds
  ).astype(np.int64)
  num_random = config.unseen_random
  hamming = np.concatenate([np.zeros(num_random, np.int64), plan_distance])

  def draw(rows):
    """Fresh codes for the given rows of the unseen set."""
    is_random = rows < num_random
    out = np.empty((len(rows), length), np.uint8)
    out[is_random] = sequence_rng.integers(
      0, 4, (int(is_random.sum()), length), dtype=np.uint8
    )
    mutant = rows[~is_random] - num_random
    out[~is_random] = library_lib.substitute(
      library_codes[plan_seed[mutant]], plan_distance[mutant], sequence_rng
    )
    return out

  codes = draw(np.arange(len(hamming)))
  taken = set(library_sequences)
  for _ in range(_MAX_REDRAWS):
    sequences = library_lib.decode(codes) if len(codes) else ()
    bad = _collisions(sequences, taken)
    if not bad.size:
      break
    codes[bad] = draw(bad)
  else:
    raise SimulationConfigError(
      f'could not draw {config.unseen_mutants} distinct unseen mutants per '
      f'distance up to {config.unseen_max_hamming} for each of {num_seeds} '
      'seeds outside the library; lower unseen_mutants or unseen_seeds'
    )
  target_dg, serum_dg = landscape.energies(sequences, truth_rng, config)
  seed_sequence = ('',) * num_random + tuple(
    library_sequences[i] for i in plan_seed
  )
  kind = (RANDOM_KIND,) * num_random + (MUTANT_KIND,) * len(plan_seed)
  return UnseenSet(
    sequences=tuple(sequences),
    kind=kind,
    hamming=hamming,
    seed_sequence=seed_sequence,
    target_dg=target_dg,
    serum_dg=serum_dg,
  )


def _collisions(sequences, taken):
  """Rows that are library members or repeat an earlier row."""
  seen = set()
  bad = []
  for i, sequence in enumerate(sequences):
    if sequence in taken or sequence in seen:
      bad.append(i)
    seen.add(sequence)
  return np.array(bad, np.int64)
