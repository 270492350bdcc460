"""Model choices that are not network hyper-parameters (MODEL_SPEC 2.3).

They travel in the Transform, Tuner and Trainer `custom_config` as a plain
dict (`as_dict`), so they stay JSON-serialisable and cache keys change when
they change. A sweep's winning meta-parameters (output layer, loss, loss
normaliser) override them in the Trainer (`with_meta`).
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Tuple

from components.config import fields
from components.config import structure
from components.config import sweep

PREPROCESS_MODES = (
  'PREPROCESS_SKIP_ALL_ZERO_COUNTS',
  'PREPROCESS_ALL_COUNTS',
  'PREPROCESS_INJECT_RANDOM_SEQUENCES',
)
# The original's --input_features names. The StructureFeatures example
# features each structure input is built from, in column order.
STRUCTURE_INPUT_COLUMNS = {
  # Defined by the original (log Z, [batch, 1]) but rejected by its main().
  'STRUCTURE_PARTITION_FUNCTION': (structure.PARTITION_FUNCTION,),
  # All five StructureFeatures values, [batch, 5].
  'STRUCTURE_FEATURES': structure.FEATURES,
}
INPUT_FEATURES = (
  'SEQUENCE_ONE_HOT',
  'SEQUENCE_KMER_COUNT',
  *STRUCTURE_INPUT_COLUMNS,
)


def structure_raw_features(input_features) -> List[str]:
  """The StructureFeatures features that `input_features` read, sorted."""
  return sorted(
    {c for f in input_features for c in STRUCTURE_INPUT_COLUMNS.get(f, ())}
  )


@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """Output layer, loss, normalisers, inputs and preprocessing.

  Attributes:
    output_layer: one of `sweep.OUTPUT_LAYERS`.
    loss_name: one of `sweep.LOSSES`.
    loss_norm: normaliser of the training targets (`sweep.NORMALIZERS`).
    dependency_norm: normaliser of parent-round counts (dependency layers).
    standardize_log_transform: STANDARDIZE on log(1 + x) rather than x.
    binarize_threshold: BINARIZE threshold.
    input_features: any of `INPUT_FEATURES`: `SEQUENCE_ONE_HOT`,
      `SEQUENCE_KMER_COUNT`, `STRUCTURE_PARTITION_FUNCTION` (log Z) and
      `STRUCTURE_FEATURES` (all five ViennaRNA features); the structure
      inputs need StructureFeatures.
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
  loss_norm: str = 'STANDARDIZE'
  dependency_norm: str = 'STANDARDIZE'
  standardize_log_transform: bool = True
  binarize_threshold: float = 1.0
  input_features: Tuple[str, ...] = ('SEQUENCE_ONE_HOT', 'SEQUENCE_KMER_COUNT')
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
    sweep.check_model_meta(self.output_layer, self.loss_name, self.loss_norm)
    if self.dependency_norm not in sweep.NORMALIZERS:
      raise ValueError(
        f'dependency_norm must be one of {sweep.NORMALIZERS}, got '
        f'{self.dependency_norm!r}'
      )
    unknown = set(self.input_features) - set(INPUT_FEATURES)
    if unknown or not self.input_features:
      raise ValueError(
        f'input_features must be a non-empty subset of '
        f'{sorted(INPUT_FEATURES)}, got {list(self.input_features)}'
      )
    if self.preprocess_mode not in PREPROCESS_MODES:
      raise ValueError(
        f'preprocess_mode must be one of {PREPROCESS_MODES}, got '
        f'{self.preprocess_mode!r}'
      )
    structure_inputs = sorted(
      set(self.input_features) & set(STRUCTURE_INPUT_COLUMNS)
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
    if not isinstance(self.affinity_target_map, dict) or not all(
      isinstance(v, list) for v in self.affinity_target_map.values()
    ):
      raise ValueError('affinity_target_map must map names to lists of reads')

  @property
  def structure_features_read(self) -> Tuple[str, ...]:
    """The structure features its inputs and additional outputs read."""
    return structure.in_order(
      set(structure_raw_features(self.input_features))
      | set(self.additional_outputs) & set(structure.FEATURES)
    )

  @property
  def needs_structure_features(self) -> bool:
    """Whether an input or an additional output is a structure feature."""
    return bool(self.structure_features_read)

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'ModelOptions':
    fields.check_known(cls, values, 'model options')
    return cls(**values)

  def with_meta(self, values: Dict[str, Any]) -> 'ModelOptions':
    """These options with a sweep's meta-parameters (if any) applied."""
    meta = {k: values[k] for k in sweep.MODEL_META if k in values}
    return dataclasses.replace(self, **meta)

  def as_dict(self) -> Dict[str, Any]:
    out = dataclasses.asdict(self)
    out['input_features'] = list(self.input_features)
    out['additional_outputs'] = list(self.additional_outputs)
    return out
