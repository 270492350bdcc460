"""Model choices that are not network hyper-parameters (MODEL_SPEC 2.3).

They travel as a plain dict in the Transform, Tuner and Trainer
`custom_config`, so they stay JSON-serialisable and cache keys change when
they change. A sweep's winning meta-parameters (output layer, loss, loss
normaliser) override them in the Trainer.
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Tuple

from components.config import sweep
from components.features import encodings
from components.features import normalizers

PREPROCESS_MODES = (
  'PREPROCESS_SKIP_ALL_ZERO_COUNTS',
  'PREPROCESS_ALL_COUNTS',
  'PREPROCESS_INJECT_RANDOM_SEQUENCES',
)


@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """Output layer, loss, normalisers, inputs and preprocessing.

  Attributes:
    output_layer: one of `sweep.OUTPUT_LAYERS`.
    loss_name: one of `sweep.LOSSES`.
    loss_norm: normaliser of the training targets.
    dependency_norm: normaliser of parent-round counts (dependency layers).
    standardize_log_transform: STANDARDIZE on log(1 + x) rather than x.
    binarize_threshold: BINARIZE threshold.
    input_features: any of `SEQUENCE_ONE_HOT`, `SEQUENCE_KMER_COUNT`,
      `STRUCTURE_PARTITION_FUNCTION` (log Z) and `STRUCTURE_FEATURES` (all
      five ViennaRNA features); the structure inputs need StructureFeatures.
    kmer_k_max: longest k-mer of SEQUENCE_KMER_COUNT.
    additional_outputs: float features predicted as auxiliary targets.
    affinity_target_map: molecule -> read names (FULLY_OBSERVED affinity).
    preprocess_mode: how training examples are filtered or augmented.
    total_reads_defining_positive: reads (all columns) that make an example
      positive, for upsampling.
    min_fraction_positive: upsample positives to at least this fraction.
    ratio_random_dna: random sequences injected per real one
      (PREPROCESS_INJECT_RANDOM_SEQUENCES).
  """

  output_layer: str = 'LATENT_AFFINITY'
  loss_name: str = 'SQUARED_ERROR'
  loss_norm: str = normalizers.STANDARDIZE
  dependency_norm: str = normalizers.STANDARDIZE
  standardize_log_transform: bool = True
  binarize_threshold: float = 1.0
  input_features: Tuple[str, ...] = ('SEQUENCE_ONE_HOT',)
  kmer_k_max: int = 4
  additional_outputs: Tuple[str, ...] = ()
  affinity_target_map: Dict[str, List[str]] = dataclasses.field(
    default_factory=dict
  )
  preprocess_mode: str = 'PREPROCESS_SKIP_ALL_ZERO_COUNTS'
  total_reads_defining_positive: int = 0
  min_fraction_positive: float = 0.1
  ratio_random_dna: float = 1.0

  def __post_init__(self):
    object.__setattr__(self, 'input_features', tuple(self.input_features))
    object.__setattr__(
      self, 'additional_outputs', tuple(self.additional_outputs)
    )
    # MetaCombination validates output layer, loss and their pairing.
    sweep.MetaCombination(
      0, 0, self.output_layer, self.loss_name, self.loss_norm
    )
    for name, value in (
      ('loss_norm', self.loss_norm),
      ('dependency_norm', self.dependency_norm),
    ):
      if value not in normalizers.NORMALIZERS:
        raise ValueError(
          f'{name} must be one of {normalizers.NORMALIZERS}, got {value!r}'
        )
    unknown = set(self.input_features) - set(encodings.INPUT_FEATURES)
    if unknown or not self.input_features:
      raise ValueError(
        f'input_features must be a non-empty subset of '
        f'{sorted(encodings.INPUT_FEATURES)}, got {list(self.input_features)}'
      )
    if self.preprocess_mode not in PREPROCESS_MODES:
      raise ValueError(
        f'preprocess_mode must be one of {PREPROCESS_MODES}, got '
        f'{self.preprocess_mode!r}'
      )
    structure_inputs = sorted(
      set(self.input_features) & set(encodings.STRUCTURE_INPUT_COLUMNS)
    )
    inject = self.preprocess_mode == 'PREPROCESS_INJECT_RANDOM_SEQUENCES'
    if structure_inputs and inject:
      # Injected sequences are drawn inside tf.data, where nothing folds.
      raise ValueError(
        'PREPROCESS_INJECT_RANDOM_SEQUENCES cannot be combined with the '
        f'structure inputs {structure_inputs}: random sequences have no '
        'ViennaRNA features'
      )
    if not 1 <= self.kmer_k_max <= 6:
      raise ValueError(f'kmer_k_max must be in 1..6, got {self.kmer_k_max}')
    if not 0 <= self.min_fraction_positive < 1:
      raise ValueError('min_fraction_positive must be in [0, 1)')

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'ModelOptions':
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
      raise ValueError(f'unknown model options: {sorted(unknown)}')
    return cls(**values)

  def with_meta(self, values: Dict[str, Any]) -> 'ModelOptions':
    """These options with a sweep's meta-parameters (if any) applied."""
    meta = {
      k: values[k]
      for k in ('output_layer', 'loss_name', 'loss_norm')
      if k in values
    }
    return dataclasses.replace(self, **meta)

  def as_dict(self) -> Dict[str, Any]:
    out = dataclasses.asdict(self)
    out['input_features'] = list(self.input_features)
    out['additional_outputs'] = list(self.additional_outputs)
    return out
