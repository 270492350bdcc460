"""True binding free energies and competitive occupancy (MODEL_SPEC.md 4).

Energies are in units of ln(10) kT, so Kd = 10**dG and a larger Kd means
weaker binding. A sequence's energy for each molecule is

  dG = mean + sum_m count_m(seq) * w_m + epistasis + extra + noise,

where count_m is the non-overlapping occurrence count of motif m (Python's
`str.count`, as in the original simulator), the epistatic bonus applies when
every motif of a pair is present, extra is any further sequence-determined
target term (the folding term of simulation/landscapes.py), and the noise is
Gaussian with a target/serum correlation.
"""

import dataclasses
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class Motif:
  """A binding motif and its energy per occurrence for each molecule."""

  sequence: str
  target_dg: float
  serum_dg: float


@dataclasses.dataclass(frozen=True)
class Epistasis:
  """An extra energy when all the listed motifs occur in one sequence."""

  motifs: Tuple[int, ...]
  target_dg: float
  serum_dg: float


# GGTGGATAG is the shared motif of the NGAL truncation anchors (MODEL_SPEC.md
# 6.2). CACAGCA is a sticky motif that binds target and serum alike, so some
# good target binders lose out in the with-serum sorts; AATTCCAG binds serum
# only.
DEFAULT_MOTIFS = (
  Motif('GGTGGATAG', target_dg=-1.2, serum_dg=0.0),
  Motif('TTGCCGT', target_dg=-0.8, serum_dg=0.0),
  Motif('CACAGCA', target_dg=-0.8, serum_dg=-1.5),
  Motif('AATTCCAG', target_dg=0.0, serum_dg=-1.6),
)
DEFAULT_EPISTASIS = (Epistasis(motifs=(0, 1), target_dg=-0.8, serum_dg=0.0),)

# Which motif sets get planted into a motif-carrying parent, and how often.
# The (0, 1) pair with its epistatic bonus makes the rare strong binders.
DEFAULT_PLANTINGS = (
  ((0,), 0.25),
  ((1,), 0.15),
  ((2,), 0.2),
  ((3,), 0.15),
  ((0, 1), 0.25),
)


def min_sequence_length(motifs=DEFAULT_MOTIFS, plantings=DEFAULT_PLANTINGS):
  """The shortest variable region that holds every planted motif set."""
  return max(
    sum(len(motifs[i].sequence) for i in motif_set)
    for motif_set, _ in plantings
  )


def motif_counts(
  sequences: Sequence[str], motifs: Sequence[Motif] = DEFAULT_MOTIFS
) -> np.ndarray:
  """Non-overlapping occurrence counts, shape [num_sequences, num_motifs]."""
  counts = np.zeros((len(sequences), len(motifs)), np.int64)
  for j, motif in enumerate(motifs):
    counts[:, j] = [s.count(motif.sequence) for s in sequences]
  return counts


def binding_energies(
  sequences: Sequence[str],
  rng: np.random.Generator,
  target_dg_mean: float,
  serum_dg_mean: float,
  noise_scale: float,
  correlation: float,
  motifs: Sequence[Motif] = DEFAULT_MOTIFS,
  epistasis: Sequence[Epistasis] = DEFAULT_EPISTASIS,
  extra_target_dg: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray]:
  """Draws the true target and serum dG of every sequence.

  Args:
    sequences: the sequences, as strings over ACGT.
    rng: the random generator for the noise term.
    target_dg_mean: dG of a motif-free sequence for the target, before noise.
    serum_dg_mean: dG of a motif-free sequence for serum, before noise.
    noise_scale: standard deviation of the Gaussian noise (>= 0).
    correlation: correlation of target and serum noise, in [-1, 1].
    motifs: the motif energies.
    epistasis: the co-occurrence bonuses.
    extra_target_dg: [num_sequences] further target dG, added before the
      noise; None for none.

  Returns:
    (target_dg, serum_dg), float64 arrays of shape [num_sequences].
  """
  counts = motif_counts(sequences, motifs)
  weights = np.array([[m.target_dg, m.serum_dg] for m in motifs], np.float64)
  dg = counts @ weights.reshape(len(motifs), 2)
  for term in epistasis:
    present = np.all(counts[:, list(term.motifs)] > 0, axis=1)
    dg[:, 0] += present * term.target_dg
    dg[:, 1] += present * term.serum_dg
  if extra_target_dg is not None:
    dg[:, 0] += extra_target_dg
  # Correlated noise: eps2 = rho * eps1 + sqrt(1 - rho^2) * z.
  eps = rng.standard_normal((len(sequences), 2))
  eps[:, 1] = correlation * eps[:, 0] + np.sqrt(1 - correlation**2) * eps[:, 1]
  dg += noise_scale * eps
  dg[:, 0] += target_dg_mean
  dg[:, 1] += serum_dg_mean
  return dg[:, 0].copy(), dg[:, 1].copy()


def target_occupancy(
  target_kd: np.ndarray,
  serum_kd: np.ndarray,
  target_concentration: float,
  serum_concentration: float,
) -> np.ndarray:
  """Fraction of an aptamer bound to target under competition from serum.

  theta = [T] / (K_T (1 + [S]/K_S) + [T]), with both molecules in large
  excess over the aptamers (competitive inhibition).

  Args:
    target_kd: dissociation constants for the target.
    serum_kd: dissociation constants for serum (same shape).
    target_concentration: [T] (>= 0).
    serum_concentration: [S] (>= 0).

  Returns:
    theta in [0, 1), same shape as target_kd.
  """
  target_kd = np.asarray(target_kd, np.float64)
  competition = 1.0 + serum_concentration / np.asarray(serum_kd, np.float64)
  return target_concentration / (target_kd * competition + target_concentration)
