"""What Transform's `preprocessing_fn` reads: its one serialised custom_config.

The field names are the custom_config keys.
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Sequence

from components.config import fields
from components.config import model_options
from components.config import sweep


@dataclasses.dataclass(frozen=True)
class TransformConfig:
  """Encodings and normalisers Transform computes.

  Attributes:
    sequence_length: the experiment's variable-region length.
    target_names: read columns the model predicts.
    parent_names: target read -> parent-round read ('' = none).
    input_features: model inputs to encode (`model_options.INPUT_FEATURES`).
    kmer_k_max: longest k-mer of SEQUENCE_KMER_COUNT.
    dependency_norm: normaliser of parent-round counts.
    standardize_log_transform: STANDARDIZE on log(1 + x) rather than x.
    binarize_threshold: BINARIZE threshold.
    additional_outputs: float features predicted as auxiliary targets.
    target_norms: every target normaliser a Trainer or Tuner needs (a sweep
      mixes them).
    input_reads: reads of rounds without an input (e.g. the library), for
      the abundance slices.
    binding_evidence: one serialised
      `components.features.binding_evidence.EvidenceSpec` (`to_dict`) per
      targeted molecule, whose evidence features Transform adds; empty = none.
  """

  sequence_length: int
  target_names: List[str]
  parent_names: Dict[str, str] = dataclasses.field(default_factory=dict)
  input_features: List[str] = dataclasses.field(
    default_factory=lambda: ['SEQUENCE_ONE_HOT']
  )
  kmer_k_max: int = 4
  dependency_norm: str = 'STANDARDIZE'
  standardize_log_transform: bool = True
  binarize_threshold: float = 1.0
  additional_outputs: List[str] = dataclasses.field(default_factory=list)
  target_norms: List[str] = dataclasses.field(
    default_factory=lambda: ['STANDARDIZE']
  )
  input_reads: List[str] = dataclasses.field(default_factory=list)
  binding_evidence: List[Dict[str, Any]] = dataclasses.field(
    default_factory=list
  )

  def __post_init__(self):
    unknown = set(self.target_norms) - set(sweep.NORMALIZERS)
    if unknown:
      raise ValueError(f'unknown target normalisers: {sorted(unknown)}')
    unknown = set(self.input_features) - set(model_options.INPUT_FEATURES)
    if unknown:
      raise ValueError(
        f'unknown input_features {sorted(unknown)}; valid: '
        f'{sorted(model_options.INPUT_FEATURES)}'
      )

  @classmethod
  def create(
    cls,
    options: model_options.ModelOptions,
    sequence_length: int,
    target_names: List[str],
    parent_names: Dict[str, str],
    input_reads: List[str],
    target_norms: List[str],
    binding_evidence: Sequence[Dict[str, Any]] = (),
  ) -> 'TransformConfig':
    """The Transform settings that follow from the model options."""
    return cls(
      sequence_length=int(sequence_length),
      target_names=list(target_names),
      parent_names=dict(parent_names),
      input_features=list(options.input_features),
      kmer_k_max=options.kmer_k_max,
      dependency_norm=options.dependency_norm,
      standardize_log_transform=options.standardize_log_transform,
      binarize_threshold=options.binarize_threshold,
      additional_outputs=list(options.additional_outputs),
      target_norms=sorted(target_norms),
      input_reads=sorted(input_reads),
      binding_evidence=[dict(spec) for spec in binding_evidence],
    )

  def to_custom_config(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_custom_config(cls, config: Dict[str, Any]) -> 'TransformConfig':
    fields.check_known(cls, config, 'Transform settings')
    return cls(**config)
