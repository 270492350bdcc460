"""The aptamer-tfx pipeline: DSL wiring only, no side effects."""

from typing import List
from typing import Optional

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.config import pipeline_config
from components.evaluation import eval_config
from components.features import binding_evidence
from pipeline import stages
from schema import experiment as experiment_lib
from schema import identifiability


def create_pipeline(
  pipeline_name: str,
  pipeline_root: str,
  data_root: str,
  experiment_pbtxt: str,
  serving_model_dir: str,
  config: pipeline_config.PipelineConfig,
  beam_pipeline_args: List[str],
  metadata_connection_config: Optional[
    metadata_store_pb2.ConnectionConfig
  ] = None,
  enable_cache: bool = True,
  fastq: bool = False,
  baseline_source: str = stages.BASELINE_FROM_METADATA,
) -> tfx.dsl.Pipeline:
  """Builds the aptamer-tfx pipeline.

  Args:
    pipeline_name: name of the pipeline (hyphens, no underscores, for KFP).
    pipeline_root: root directory of the pipeline's artifacts.
    data_root: dataset directory with the TFRecord examples (or, with
      `fastq`, the FASTQ files experiment_pbtxt names).
    experiment_pbtxt: the experiment in protobuf text format (its content,
      so a changed experiment invalidates the cache).
    serving_model_dir: where the Pusher copies a blessed model.
    config: the validated model, training, search, structure and blessing
      configuration (`pipeline.run_options.pipeline_config` builds it).
    beam_pipeline_args: arguments for every Beam-based component.
    metadata_connection_config: MLMD connection (None: the orchestrator's).
    enable_cache: reuse results of unchanged components.
    fastq: the dataset holds FASTQ reads (`run_options.dataset_kind`).
    baseline_source: how the Evaluator finds the latest blessed model
      (`stages.BASELINE_SOURCES`): a metadata Resolver, or the newest
      version in serving_model_dir (for orchestrators without resolvers).

  Returns:
    The `tfx.dsl.Pipeline`.

  Raises:
    ValueError: the configuration does not fit the experiment (e.g. the
      affinity map names a read that is not a training target).
  """
  experiment = experiment_lib.parse_experiment(
    experiment_pbtxt, 'experiment_pbtxt'
  )
  targets = experiment_lib.non_input_count_names(experiment)
  config.check_targets(targets)
  if config.latent_affinity:
    # Refuses, before anything runs, a design no latent can represent.
    identifiability.model_axes(experiment, targets)
  parents = experiment_lib.parent_counts(experiment)
  transform = config.transform_config(
    sequence_length=experiment.sequence_length,
    targets=targets,
    parents={t: parents[t] for t in targets},
    input_reads=sorted(
      set(experiment_lib.all_count_names(experiment)) - set(targets)
    ),
    binding_evidence=[
      spec.to_dict() for spec in binding_evidence.evidence_specs(experiment)
    ],
  )
  run = config.run_config(experiment_pbtxt)

  data = stages.data_stage(
    data_root,
    experiment_pbtxt,
    folded_features=config.structure.features if config.structure else (),
    log_normalised_floats=config.log_normalised_floats,
    max_count=config.data_contract.max_count,
    fastq=config.fastq if fastq else None,
  )
  features = stages.feature_stage(
    data.outputs['examples'],
    data.outputs['schema'],
    experiment,
    config,
    transform.to_custom_config(),
  )
  trained_inputs = stages.trained_inputs(features, data.outputs['schema'])
  search = stages.search_stage(trained_inputs, run, config)
  training = stages.training_stage(
    trained_inputs,
    run,
    search.outputs['best_hyperparameters'],
    config.num_replicas,
    config.serve_replica_mean,
  )
  evaluation = stages.evaluation_stage(
    features.outputs['examples'],
    training.outputs['model'],
    targets + list(config.model.additional_outputs),
    config,
    affinity_evidence=eval_config.affinity_evidence(
      experiment, config.model, [c.output_layer for c in config.sweep]
    ),
    evidence_levels=eval_config.evidence_levels(experiment),
    baseline_source=baseline_source,
    serving_model_dir=serving_model_dir,
  )
  designer = None
  if config.design.enabled:
    designer = stages.design_component(
      training.outputs['replica_models'],
      evaluation.outputs['blessing'],
      features.outputs['examples'],
      config,
      experiment,
    )
  push = stages.push_stage(
    training.outputs['model'],
    evaluation.outputs['blessing'],
    serving_model_dir,
    designer,
  )
  return tfx.dsl.Pipeline(
    pipeline_name=pipeline_name,
    pipeline_root=pipeline_root,
    components=[
      c
      for stage in (data, features, search, training, evaluation, push)
      for c in stage.components
    ],
    enable_cache=enable_cache,
    metadata_connection_config=metadata_connection_config,
    beam_pipeline_args=beam_pipeline_args,
  )
