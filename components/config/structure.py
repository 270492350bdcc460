"""StructureFeatures settings: which ViennaRNA features exist and how to fold.

ViennaRNA-free, so Transform, serving and the runners can name the features
without importing ViennaRNA; `components.features.structure.folding`
computes them.
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import Iterable
from typing import Tuple

MFE = 'mfe'
ENSEMBLE_FREE_ENERGY = 'ensemble_free_energy'
PARTITION_FUNCTION = 'partition_function'
BOLTZMANN_PROBABILITY = 'boltzmann_probability'
ENSEMBLE_DIVERSITY = 'ensemble_diversity'
# The five features StructureFeatures adds to every example, in this order.
FEATURES = (
  MFE,
  ENSEMBLE_FREE_ENERGY,
  PARTITION_FUNCTION,
  BOLTZMANN_PROBABILITY,
  ENSEMBLE_DIVERSITY,
)

# Features that can be negative or are already on a compact scale (free
# energies in kcal/mol, a probability, a mean base-pair distance): log(1 + x)
# is undefined or distorting there, so as outputs they get a plain z-score.
# The partition function, spanning orders of magnitude, is normalised like
# the counts.
LINEAR_FEATURES = frozenset(
  {MFE, ENSEMBLE_FREE_ENERGY, BOLTZMANN_PROBABILITY, ENSEMBLE_DIVERSITY}
)

DNA_MATHEWS2004 = 'dna_mathews2004'
RNA_TURNER2004 = 'rna_turner2004'
ENERGY_PARAMETERS = (DNA_MATHEWS2004, RNA_TURNER2004)

# ViennaRNA's own defaults (a test checks them against `RNA.md()`): at
# 1.021 mol/L sodium its salt correction is zero.
DEFAULT_TEMPERATURE = 37.0
DEFAULT_SODIUM = 1.021


def features_problem(features: Iterable[str]) -> str:
  """What is wrong with a choice of features to compute ('' when nothing)."""
  features = list(features)
  if not features:
    return f'features must name at least one of {list(FEATURES)}, got none'
  unknown = sorted(set(features) - set(FEATURES))
  if unknown:
    return f'features {unknown} are not among {list(FEATURES)}'
  if len(set(features)) != len(features):
    return f'features name one feature twice: {features}'
  return ''


def in_order(features: Iterable[str]) -> Tuple[str, ...]:
  """`features` in `FEATURES` order (the order they are written in)."""
  chosen = set(features)
  return tuple(f for f in FEATURES if f in chosen)


def folding_problem(
  energy_parameters: str, temperature: float, sodium: float
) -> str:
  """What is wrong with these folding parameters ('' when nothing)."""
  if energy_parameters not in ENERGY_PARAMETERS:
    return (
      f'energy_parameters must be one of {list(ENERGY_PARAMETERS)}, got '
      f'{energy_parameters!r}'
    )
  if not -273.15 < temperature < 200:
    return f'temperature must be in degrees Celsius, got {temperature}'
  if not 0 < sodium <= 10:
    return f'sodium must be a concentration in mol/L in (0, 10], got {sodium}'
  return ''


@dataclasses.dataclass(frozen=True)
class StructureConfig:
  """How StructureFeatures folds.

  Attributes:
    temperature: folding temperature in deg C.
    sodium: sodium concentration in mol/L.
    include_primers: fold the experiment's primers with the variable region.
    energy_parameters: one of `ENERGY_PARAMETERS` (DNA by default).
    cache_dir: folded sequences shared across runs ('' = no cache); the
      pipeline imports it as a `FoldingCache` artifact, StructureFeatures'
      `cache` input (see `features/structure/folding_cache.py`).
    features: the features to compute and add, in `FEATURES` order. The
      runner asks for those the model reads (all five with
      `--structure_features`): each one costs its own ViennaRNA work, and
      the manuscript preset reads only the partition function, which
      needs neither the MFE nor the base-pair probabilities.
  """

  temperature: float = DEFAULT_TEMPERATURE
  sodium: float = DEFAULT_SODIUM
  include_primers: bool = False
  energy_parameters: str = DNA_MATHEWS2004
  cache_dir: str = ''
  features: Tuple[str, ...] = FEATURES

  def __post_init__(self):
    problem = folding_problem(
      self.energy_parameters, self.temperature, self.sodium
    ) or features_problem(self.features)
    if problem:
      raise ValueError(f'structure_{problem}')
    object.__setattr__(self, 'features', in_order(self.features))

  def as_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)
