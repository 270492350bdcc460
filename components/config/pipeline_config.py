"""Everything `create_pipeline` is configured with, validated together.

The runners build one `PipelineConfig` from their flags
(`pipeline.run_options.pipeline_config`), so a bad value fails when the
pipeline is built, before any component runs; `create_pipeline` only wires
what it is given.
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from components.config import blessing as blessing_lib
from components.config import data_contract as data_contract_lib
from components.config import design as design_lib
from components.config import fastq as fastq_lib
from components.config import hparams as hparams_lib
from components.config import model_options
from components.config import run_config
from components.config import structure as structure_lib
from components.config import sweep as sweep_lib
from components.config import training as training_lib
from components.config import transform_config
from components.config import tuner as tuner_lib


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """The model, training, search, structure and blessing of one pipeline.

  Attributes:
    hparams: HParams fields fixed for every Trainer and Tuner (with a
      search: the layer counts and the pinned hyper-parameters).
    model: model options.
    training: training-length settings.
    tuner: random-search settings; None trains `hparams` directly.
    sweep: meta-parameter combinations, one Tuner each (needs `tuner`).
    num_replicas: Trainers of the chosen configuration, seeds seed..seed+N-1.
    serve_replica_mean: with replicas, evaluate and push their mean
      (ReplicaMean) rather than the first replica.
    structure: how to fold; None skips StructureFeatures.
    blessing: the Evaluator's thresholds.
    data_contract: DataContractCheck's bounds.
    design: the Designer's settings (after the Pusher).
    fastq: FastqExampleGen's thresholds (used when the dataset holds FASTQ
      reads).
  """

  hparams: Dict[str, Any]
  model: model_options.ModelOptions = model_options.ModelOptions()
  training: training_lib.TrainingConfig = training_lib.TrainingConfig()
  tuner: Optional[tuner_lib.TunerConfig] = None
  sweep: Tuple[sweep_lib.MetaCombination, ...] = ()
  num_replicas: int = 1
  serve_replica_mean: bool = True
  structure: Optional[structure_lib.StructureConfig] = None
  blessing: blessing_lib.BlessingConfig = blessing_lib.BlessingConfig()
  data_contract: data_contract_lib.DataContractConfig = (
    data_contract_lib.DataContractConfig()
  )
  design: design_lib.DesignConfig = design_lib.DesignConfig()
  fastq: fastq_lib.FastqSettings = fastq_lib.FastqSettings()

  def __post_init__(self):
    object.__setattr__(self, 'sweep', tuple(self.sweep))
    if self.sweep and self.tuner is None:
      raise ValueError('a sweep needs tuner settings (--tuner_trials > 0)')
    if self.num_replicas < 1:
      raise ValueError(f'--num_replicas must be >= 1, got {self.num_replicas}')
    read = self.model.structure_features_read
    if read and self.structure is None:
      raise ValueError(
        'the model reads structure features (an input or an additional '
        'output), but folding is off'
      )
    missing = sorted(set(read) - set(self.structure.features if read else ()))
    if missing:
      raise ValueError(
        f'the model reads structure features {missing}, which folding does '
        f'not compute (it computes {list(self.structure.features)})'
      )
    # Every Tuner's configuration must be buildable: pins must fit each
    # combination's layer counts.
    for combination in self.sweep or (None,):
      values = dict(self.hparams)
      if combination is not None:
        values.update(
          {k: getattr(combination, k) for k in hparams_lib.LAYER_COUNTS}
        )
      try:
        run_config.check_hparams(values)
      except ValueError as e:
        where = f' (sweep combination {combination})' if combination else ''
        raise ValueError(f'--hpconfig{where}: {e}') from None

  @property
  def latent_affinity(self) -> bool:
    """Whether some Trainer or Tuner uses a LATENT_* output layer."""
    layers = {self.model.output_layer} | {c.output_layer for c in self.sweep}
    return any(layer.startswith('LATENT') for layer in layers)

  @property
  def target_norms(self) -> List[str]:
    """Every target normaliser a Trainer or Tuner of this pipeline needs."""
    return sorted({self.model.loss_norm} | {c.loss_norm for c in self.sweep})

  @property
  def log_normalised_floats(self) -> List[str]:
    """Additional outputs Transform normalises with log(1 + x), as counts.

    The data contract refuses values <= -1 in them. That is every additional
    output but the linear structure features, when the target normaliser
    STANDARDIZE (the only one with a log) runs with its log transform.
    """
    if not (
      self.model.standardize_log_transform
      and 'STANDARDIZE' in self.target_norms
    ):
      return []
    return [
      name
      for name in self.model.additional_outputs
      if name not in structure_lib.LINEAR_FEATURES
    ]

  def check_targets(self, targets: List[str]) -> None:
    """Raises ValueError if the affinity map names a read that no output
    predicts."""
    mapped = {r for v in self.model.affinity_target_map.values() for r in v}
    unmapped = sorted(mapped - set(targets))
    if unmapped:
      raise ValueError(
        f'--affinity_target_map names reads that are not training targets '
        f'of the experiment: {unmapped}; targets are {targets}'
      )

  def run_config(self, experiment_pbtxt: str) -> run_config.RunConfig:
    """The Trainer's configuration (a Tuner's adds `tuner`)."""
    return run_config.RunConfig(
      experiment_pbtxt=experiment_pbtxt,
      hparams=dict(self.hparams),
      model=self.model,
      training=self.training,
    )

  def transform_config(
    self,
    sequence_length: int,
    targets: List[str],
    parents: Dict[str, str],
    input_reads: List[str],
    binding_evidence: Tuple[Dict[str, Any], ...] = (),
  ) -> transform_config.TransformConfig:
    return transform_config.TransformConfig.create(
      self.model,
      sequence_length=sequence_length,
      target_names=targets,
      parent_names=parents,
      input_reads=input_reads,
      target_norms=self.target_norms,
      binding_evidence=binding_evidence,
    )
