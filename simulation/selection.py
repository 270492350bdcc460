"""Particle-display sorting, SELEX partitioning, PCR and sequencing, vectorised.

A pool is a vector of non-negative abundances over the library members.
Particle display puts one sequence on each bead (many copies of it), labels
the target, and sorts beads by fluorescence: a bead's signal is its
sequence's target occupancy times log-normal noise, beads at or above the
gate go to the positive pool, the rest to the negative pool, except that a
small fraction of sub-gate beads is mis-sorted positive (sorter impurity).
SELEX instead partitions free molecules at equilibrium: each molecule drawn
from the pool is retained with its sequence's occupancy plus a small
non-specific retention. Each pool is then PCR amplified with a per-sequence
efficiency (the sequence-dependent bias real PCR has) and a per-pool gamma
jitter, and read by multinomial sequencing.
"""

import dataclasses

import numpy as np

# Gamma shape of the per-pool amplification jitter (coefficient of variation
# 1/sqrt(shape), about 0.2).
_PCR_JITTER_SHAPE = 25.0


@dataclasses.dataclass(frozen=True)
class SortResult:
  """Beads (SELEX: molecules) per library member in each selected pool.

  Attributes:
    positive: [num_members] int64 beads sorted into the positive pool.
    negative: [num_members] int64 beads sorted into the negative pool.
  """

  positive: np.ndarray
  negative: np.ndarray

  @property
  def screened(self) -> int:
    return int(self.positive.sum() + self.negative.sum())

  @property
  def collected(self) -> int:
    return int(self.positive.sum())


def particle_display(
  abundance: np.ndarray,
  theta: np.ndarray,
  num_beads: int,
  gate: float,
  fluorescence_noise: float,
  sort_impurity: float,
  rng: np.random.Generator,
) -> SortResult:
  """Sorts num_beads beads drawn from a pool.

  Args:
    abundance: [num_members] pool abundances (any scale, sum > 0).
    theta: [num_members] target occupancy in this sort's conditions.
    num_beads: beads screened.
    gate: fluorescence threshold, as a fraction of a saturated bead.
    fluorescence_noise: log-normal sigma of the per-bead signal.
    sort_impurity: probability that a sub-gate bead lands in the positive
      pool.
    rng: the random generator.

  Returns:
    The positive and negative beads per member.
  """
  beads = rng.multinomial(num_beads, _probabilities(abundance))
  member = np.repeat(np.arange(len(beads)), beads)
  signal = theta[member] * rng.lognormal(0.0, fluorescence_noise, len(member))
  positive = (signal >= gate) | (rng.random(len(member)) < sort_impurity)
  pos = np.bincount(member[positive], minlength=len(beads)).astype(np.int64)
  return SortResult(pos, beads.astype(np.int64) - pos)


def selex(
  abundance: np.ndarray,
  theta: np.ndarray,
  num_molecules: int,
  nonspecific_retention: float,
  rng: np.random.Generator,
) -> SortResult:
  """Partitions num_molecules molecules drawn from a pool at equilibrium.

  Args:
    abundance: [num_members] pool abundances (any scale, sum > 0).
    theta: [num_members] target occupancy in this round's conditions
      (competitive with serum where serum is present).
    num_molecules: molecules drawn from the pool.
    nonspecific_retention: fraction retained whatever the occupancy.
    rng: the random generator.

  Returns:
    Retained (positive) and washed-away (negative) molecules per member.
  """
  molecules = rng.multinomial(num_molecules, _probabilities(abundance))
  retained = np.minimum(np.asarray(theta) + nonspecific_retention, 1.0)
  pos = rng.binomial(molecules, retained).astype(np.int64)
  return SortResult(pos, molecules.astype(np.int64) - pos)


def pcr_efficiency(
  num_members: int, mean: float, shape: float, rng: np.random.Generator
) -> np.ndarray:
  """Per-sequence PCR efficiency: gamma(shape, mean/shape), capped at 1."""
  return np.minimum(rng.gamma(shape, mean / shape, num_members), 1.0)


def amplify(
  templates: np.ndarray,
  efficiency: np.ndarray,
  cycles: int,
  rng: np.random.Generator,
) -> np.ndarray:
  """Expected copies after PCR: templates * (1 + eff)**cycles * jitter."""
  jitter = rng.gamma(_PCR_JITTER_SHAPE, 1.0 / _PCR_JITTER_SHAPE, len(templates))
  # Relative scale only: divide by 2**cycles to keep the numbers moderate.
  return templates * ((1.0 + efficiency) / 2.0) ** cycles * jitter


def sequence(
  abundance: np.ndarray, depth: int, rng: np.random.Generator
) -> np.ndarray:
  """Multinomial sequencing: depth reads; zeros when the pool is empty."""
  if not abundance.sum() > 0:
    return np.zeros(len(abundance), np.int64)
  return rng.multinomial(depth, _probabilities(abundance)).astype(np.int64)


def _probabilities(abundance):
  p = np.asarray(abundance, np.float64)
  return p / p.sum()
