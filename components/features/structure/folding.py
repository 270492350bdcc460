"""ViennaRNA secondary-structure features of one sequence (no Beam, no TFX).

`fold(sequence, parameters)` returns the features the StructureFeatures
component adds to each example, those of `parameters.features` (by
default all five):

  mfe                    minimum free energy (kcal/mol)
  ensemble_free_energy   G = -kT ln Z (kcal/mol)
  partition_function     Z = exp(-G / kT)
  boltzmann_probability  probability of the MFE structure in the ensemble,
                         exp(-(mfe - G) / kT)
  ensemble_diversity     mean base-pair distance of the ensemble

Each feature is computed only when asked for: the MFE fold (about 40 % of
the work) serves `mfe` and `boltzmann_probability`, the base-pair
probabilities (about a quarter) serve `ensemble_diversity`, and the
partition function, which the rest need, is the same number with or without
them (tested).

ViennaRNA keeps its energy parameter set in process-global state
(`RNA.params_load_*`), which any code in the process may switch. So this
module loads the requested set once per process and (set, temperature,
sodium), builds ViennaRNA parameter objects from it under a lock, and
substitutes them into every fold compound: folds never read the global set,
and every process (each Beam worker included) folds with the set it was
asked for, whatever the launching process loaded.
"""

import dataclasses
import hashlib
import json
import math
import threading
from typing import Any
from typing import Dict
from typing import Iterable
from typing import Optional
from typing import Tuple

import numpy as np
import RNA

from components.config import structure as structure_config

MFE = structure_config.MFE
ENSEMBLE_FREE_ENERGY = structure_config.ENSEMBLE_FREE_ENERGY
PARTITION_FUNCTION = structure_config.PARTITION_FUNCTION
BOLTZMANN_PROBABILITY = structure_config.BOLTZMANN_PROBABILITY
ENSEMBLE_DIVERSITY = structure_config.ENSEMBLE_DIVERSITY
FEATURES = structure_config.FEATURES

DNA_MATHEWS2004 = structure_config.DNA_MATHEWS2004
RNA_TURNER2004 = structure_config.RNA_TURNER2004
_LOADERS = {
  DNA_MATHEWS2004: RNA.params_load_DNA_Mathews2004,
  RNA_TURNER2004: RNA.params_load_RNA_Turner2004,
}
ENERGY_PARAMETERS = structure_config.ENERGY_PARAMETERS

# ViennaRNA's defaults: 37 °C and 1.021 mol/L sodium, at which its salt
# correction is zero (the standard parameters apply unchanged).
DEFAULT_TEMPERATURE = structure_config.DEFAULT_TEMPERATURE
DEFAULT_SODIUM = structure_config.DEFAULT_SODIUM

_VALID_BASES = frozenset('ACGT')
_LOG_FLOAT32_MAX = math.log(float(np.finfo(np.float32).max))

_lock = threading.Lock()
_loaded: Optional[str] = None
# (energy set, temperature, sodium, bpp) -> (md, params, exp params).
_models: Dict[Tuple[str, float, float, bool], Tuple[Any, Any, Any]] = {}


class FoldingError(ValueError):
  """A sequence cannot be folded, or its features are not finite."""


@dataclasses.dataclass(frozen=True)
class FoldingParameters:
  """Everything besides the sequence that determines the features.

  Attributes:
    energy_parameters: one of `ENERGY_PARAMETERS`.
    temperature: folding temperature in °C.
    sodium: sodium concentration in mol/L (ViennaRNA `md.salt`).
    forward_primer: prepended to every sequence before folding ('' = none).
    reverse_primer: appended to every sequence before folding ('' = none).
    features: the features `fold` computes, in `FEATURES` order.
  """

  energy_parameters: str = DNA_MATHEWS2004
  temperature: float = DEFAULT_TEMPERATURE
  sodium: float = DEFAULT_SODIUM
  forward_primer: str = ''
  reverse_primer: str = ''
  features: Tuple[str, ...] = FEATURES

  def __post_init__(self):
    problem = structure_config.folding_problem(
      self.energy_parameters, self.temperature, self.sodium
    ) or structure_config.features_problem(self.features)
    if problem:
      raise FoldingError(problem)
    object.__setattr__(
      self, 'features', structure_config.in_order(self.features)
    )
    for name in ('forward_primer', 'reverse_primer'):
      primer = getattr(self, name)
      if set(primer) - _VALID_BASES:
        raise FoldingError(
          f'{name} has characters other than A/C/G/T: {primer!r}'
        )

  def full_sequence(self, sequence: str) -> str:
    """The sequence that is folded: forward primer + sequence + reverse."""
    return self.forward_primer + sequence + self.reverse_primer

  def fingerprint(self) -> str:
    """A short id of these parameters and the ViennaRNA version."""
    return hashlib.sha256(self.describe().encode()).hexdigest()[:16]

  def with_features(self, features: Iterable[str]) -> 'FoldingParameters':
    """These parameters, computing `features` instead."""
    return dataclasses.replace(self, features=tuple(features))

  def describe(self) -> str:
    """These parameters and the ViennaRNA version as canonical JSON.

    All five features are left out of it, so that the folding caches made
    before a choice of features existed keep their fingerprint.
    """
    fields = dataclasses.asdict(self)
    if self.features == FEATURES:
      del fields['features']
    else:
      fields['features'] = list(self.features)
    fields['viennarna'] = RNA.__version__
    return json.dumps(fields, sort_keys=True)


def load_energy_parameters(name: str) -> None:
  """Loads a parameter set into this process's ViennaRNA (always reloads)."""
  global _loaded
  if name not in _LOADERS:
    raise FoldingError(
      f'energy_parameters must be one of {list(ENERGY_PARAMETERS)}, got '
      f'{name!r}'
    )
  with _lock:
    _LOADERS[name]()
    _loaded = name


def prepare(parameters: FoldingParameters) -> Tuple[Any, Any, Any]:
  """Loads and keeps the ViennaRNA energy parameters for `parameters`.

  `fold` calls it; Beam workers call it in `DoFn.setup` to pay the loading
  (milliseconds) before the first element.

  Returns:
    (model details, energy parameters, Boltzmann factor parameters).
  """
  global _loaded
  # Base-pair probabilities, a quarter of the folding work, serve only
  # ensemble_diversity.
  bpp = ENSEMBLE_DIVERSITY in parameters.features
  key = (
    parameters.energy_parameters,
    parameters.temperature,
    parameters.sodium,
    bpp,
  )
  model = _models.get(key)
  if model is None:
    with _lock:
      _LOADERS[parameters.energy_parameters]()
      _loaded = parameters.energy_parameters
      md = RNA.md()
      md.compute_bpp = int(bpp)
      md.temperature = parameters.temperature
      md.salt = parameters.sodium
      # Both copy the set loaded now, with temperature and salt applied.
      model = (md, RNA.param(md), RNA.exp_param(md))
    _models[key] = model
  return model


def loaded_energy_parameters() -> Optional[str]:
  """The set this module last loaded in this process (None: none yet)."""
  return _loaded


def check_sequence(sequence: str) -> None:
  """Raises FoldingError unless `sequence` is non-empty A/C/G/T.

  ViennaRNA itself folds any other letter as an unpaired base without
  complaint, so this check is what stops such sequences.
  """
  if not sequence:
    raise FoldingError('empty sequence: ViennaRNA cannot fold it')
  bad = sorted(set(sequence) - _VALID_BASES)
  if bad:
    raise FoldingError(
      f'sequence {sequence!r} has characters other than A/C/G/T: '
      f'{"".join(bad)!r}'
    )


def fold(sequence: str, parameters: FoldingParameters) -> Dict[str, float]:
  """Computes the structure features of one sequence.

  Args:
    sequence: the variable region, A/C/G/T; primers are added here when the
      parameters have them.
    parameters: energy model, temperature, salt, primers and the features
      to compute.

  Returns:
    A dict from each name in `parameters.features` to its value.

  Raises:
    FoldingError: the sequence is empty or not A/C/G/T, or a feature is not
      finite (or the partition function overflows float32, the type of
      tf.Example float features; `ensemble_free_energy` holds -kT ln Z).
  """
  check_sequence(sequence)
  wanted = set(parameters.features)
  full = parameters.full_sequence(sequence)
  md, params, exp_params = prepare(parameters)
  if _loaded != parameters.energy_parameters:
    # Seen in one process switching sets: the substitution below alone then
    # folded with the globally loaded set. Reloading on a switch costs
    # nothing in Beam workers, which use one set.
    load_energy_parameters(parameters.energy_parameters)
  fc = RNA.fold_compound(full, md)
  # Replaces the parameters built from the global set with the requested.
  fc.params_subst(params)
  fc.exp_params_subst(exp_params)
  features = {}
  structure = None
  if wanted & {MFE, BOLTZMANN_PROBABILITY}:
    structure, mfe = fc.mfe()
    features[MFE] = float(mfe)
    # Rescaling Boltzmann factors around the MFE guards pf() against
    # overflow; ViennaRNA's own estimate does for these lengths.
    fc.exp_params_rescale(mfe)
  if wanted - {MFE}:
    _, ensemble = fc.pf()
    kt = fc.exp_params.kT / 1000.0  # cal/mol -> kcal/mol
    features[ENSEMBLE_FREE_ENERGY] = float(ensemble)
    features[PARTITION_FUNCTION] = math.nan
    if BOLTZMANN_PROBABILITY in wanted:
      features[BOLTZMANN_PROBABILITY] = float(fc.pr_structure(structure))
    if ENSEMBLE_DIVERSITY in wanted:
      features[ENSEMBLE_DIVERSITY] = float(fc.mean_bp_distance())
  where = f'sequence {sequence!r}'
  if full != sequence:
    where += f' (folded with primers as {full!r})'
  if PARTITION_FUNCTION in wanted:
    log_z = -ensemble / kt
    if math.isfinite(log_z) and log_z > _LOG_FLOAT32_MAX:
      raise FoldingError(
        f'{where}: partition_function exp({log_z:.1f}) overflows float32; '
        'ensemble_free_energy holds -kT ln Z'
      )
    features[PARTITION_FUNCTION] = math.exp(log_z)
  features = {name: features[name] for name in parameters.features}
  for name, value in features.items():
    if not math.isfinite(value):
      raise FoldingError(f'{where}: {name} is {value}, not a finite number')
  return features
