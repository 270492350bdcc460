"""Binding-energy landscapes: the named shapes of the true dG per sequence.

  motif            planted motifs, additive: dG = mean + sum_m count_m * w_m
                   + noise
  motif_epistasis  motifs plus an epistatic bonus when GGTGGATAG and TTGCCGT
                   occur together (the demo's landscape)
  motif_structure  motifs plus structure_weight * standardised ViennaRNA MFE
                   on the target dG: stably folded sequences bind the target
                   better (simulation/structure.py)

Any landscape can also carry `matrix_weight` times a standardised energy
matrix (per-position contributions plus neighbour couplings,
simulation/energy_matrix.py) on the target dG: a background that is a
learnable function of the whole sequence, so that binders among unseen
random sequences are more than the noise term.

Every landscape uses the same motifs (simulation/binding.py), so the library
is drawn the same way whatever the landscape; only the energies change.
"""

import dataclasses
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

from simulation import binding
from simulation import energy_matrix
from simulation import structure

MOTIF = 'motif'
MOTIF_EPISTASIS = 'motif_epistasis'
MOTIF_STRUCTURE = 'motif_structure'
LANDSCAPES = {
  MOTIF: 'planted motifs with additive energies, no epistasis',
  MOTIF_EPISTASIS: 'planted motifs plus an epistatic bonus for one motif '
  'pair (the demo)',
  MOTIF_STRUCTURE: 'planted motifs plus a target term from the ViennaRNA '
  'MFE: stable folds bind better',
}


@dataclasses.dataclass(frozen=True)
class Landscape:
  """The deterministic part of the energies, and how the noise is added.

  Attributes:
    name: one of LANDSCAPES.
    motifs: motif energies.
    epistasis: co-occurrence bonuses.
    structure_weight: target dG per standard deviation of the MFE (0: no
      folding term).
    matrix_weight: target dG per standard deviation of the energy matrix
      (0: no matrix term).
  """

  name: str
  motifs: Tuple[binding.Motif, ...] = binding.DEFAULT_MOTIFS
  epistasis: Tuple[binding.Epistasis, ...] = ()
  structure_weight: float = 0.0
  matrix_weight: float = 0.0

  def structure_term(self, sequences: Sequence[str]) -> Optional[np.ndarray]:
    """The folding term of the target dG, None without one."""
    if not self.structure_weight:
      return None
    return self.structure_weight * structure.standardised_mfe(sequences)

  def extra_target_term(self, sequences: Sequence[str]) -> Optional[np.ndarray]:
    """The folding and matrix terms of the target dG, None without any."""
    terms = [t for t in (self.structure_term(sequences),) if t is not None]
    if self.matrix_weight:
      terms.append(
        self.matrix_weight * energy_matrix.standardised_energy(sequences)
      )
    return sum(terms) if terms else None

  def energies(
    self, sequences: Sequence[str], rng: np.random.Generator, config
  ) -> Tuple[np.ndarray, np.ndarray]:
    """The true (target_dg, serum_dg) of sequences, noise drawn from rng.

    Args:
      sequences: the sequences.
      rng: the generator of the noise term.
      config: a SimulationConfig (means, noise scale and correlation).

    Returns:
      Two float64 arrays of shape [num_sequences].
    """
    return binding.binding_energies(
      sequences,
      rng,
      config.target_dg_mean,
      config.serum_dg_mean,
      config.binding_noise_scale,
      config.binding_energy_correlation,
      motifs=self.motifs,
      epistasis=self.epistasis,
      extra_target_dg=self.extra_target_term(sequences),
    )


def get_landscape(
  name: str, structure_weight: float = 0.5, matrix_weight: float = 0.0
) -> Landscape:
  """The landscape called name.

  Args:
    name: one of LANDSCAPES.
    structure_weight: the MFE weight (motif_structure only).
    matrix_weight: the energy matrix's weight (any landscape; 0 for none).

  Raises:
    ValueError: name is not a landscape; the message lists the valid ones.
  """
  if name == MOTIF:
    return Landscape(MOTIF, matrix_weight=matrix_weight)
  if name == MOTIF_EPISTASIS:
    return Landscape(
      MOTIF_EPISTASIS,
      epistasis=binding.DEFAULT_EPISTASIS,
      matrix_weight=matrix_weight,
    )
  if name == MOTIF_STRUCTURE:
    return Landscape(
      MOTIF_STRUCTURE,
      structure_weight=structure_weight,
      matrix_weight=matrix_weight,
    )
  raise ValueError(
    f'unknown landscape {name!r}; valid landscapes: {", ".join(LANDSCAPES)}'
  )


def from_config(config) -> Landscape:
  """The landscape a SimulationConfig or TruthModel names, with its weights.

  Args:
    config: anything with `landscape`, `structure_weight` and
      `matrix_weight` attributes.
  """
  return get_landscape(
    config.landscape, config.structure_weight, config.matrix_weight
  )
