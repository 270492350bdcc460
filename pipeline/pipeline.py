"""The aptamer-tfx pipeline: DSL wiring only, no side effects."""

import json
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

from ml_metadata.proto import metadata_store_pb2
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components import trainer_module
from components import transform_module
from components import tuner_module
from components.config import model_options
from components.config import sweep as sweep_lib
from components.data import data_contract
from components.data import experiment_schema
from components.evaluation import replica_report
from components.features import encodings
from components.features.structure import component as structure_component
from components.features.structure import folding
from components.search import sweep_selector
from components.search import tuner_executor
from pipeline import configs
from schema import experiment as experiment_lib


def make_eval_config(
  target_names: List[str],
  min_auc_true_top_1p: float,
  min_spearman: Optional[float] = None,
) -> tfma.EvalConfig:
  """TFMA config: aptamer rank metrics on the held-out clusters.

  Each read column is one model output, labelled by its raw count (ranks do
  not depend on the normalisation). A candidate is blessed only if the mean
  over outputs of `auc/true_top_1p` (ROC-AUC for the true top 1% of nonzero
  counts, the original's model-selection metric) reaches
  `min_auc_true_top_1p`, and is no worse than the latest blessed model's
  (the change threshold is ignored while there is no baseline). With
  `min_spearman`, the mean Spearman correlation (all examples) must reach it
  too.
  """
  threshold = tfma.MetricThreshold(
    value_threshold=tfma.GenericValueThreshold(
      lower_bound={'value': min_auc_true_top_1p}
    ),
    change_threshold=tfma.GenericChangeThreshold(
      direction=tfma.MetricDirection.HIGHER_IS_BETTER,
      absolute={'value': -1e-10},
    ),
  )
  rank_metrics = tfma.MetricConfig(
    class_name='AptamerRankMetrics',
    module='components.evaluation.tfma_metrics',
    config=json.dumps({'outputs': list(target_names)}),
    # The gate is on the overall slice only: small slices (a rare GC
    # bucket, say) may hold no true top-1% sequence, and their AUC is
    # undefined.
    per_slice_thresholds=[
      tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()], threshold=threshold
      )
    ],
  )
  metric_configs = [tfma.MetricConfig(class_name='ExampleCount'), rank_metrics]
  if min_spearman is not None:
    metric_configs.append(
      tfma.MetricConfig(
        class_name='AptamerRankMetrics',
        module='components.evaluation.tfma_metrics',
        config=json.dumps(
          {
            'outputs': list(target_names),
            'name': 'spearman_correlation/score_all',
            'only_named': True,
          }
        ),
        per_slice_thresholds=[
          tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()],
            threshold=tfma.MetricThreshold(
              value_threshold=tfma.GenericValueThreshold(
                lower_bound={'value': min_spearman}
              )
            ),
          )
        ],
      )
    )
  return tfma.EvalConfig(
    model_specs=[
      tfma.ModelSpec(
        signature_name='serving_default',
        label_keys={t: t for t in target_names},
        preprocessing_function_names=['transform_features'],
      )
    ],
    # Overall, by GC content and by input-round abundance (rare versus
    # abundant sequences): transformed features, via transform_features.
    slicing_specs=[
      tfma.SlicingSpec(),
      tfma.SlicingSpec(feature_keys=[encodings.GC_SLICE]),
      tfma.SlicingSpec(feature_keys=[encodings.ABUNDANCE_SLICE]),
    ],
    metrics_specs=[tfma.MetricsSpec(metrics=metric_configs)],
  )


def create_pipeline(
  pipeline_name: str,
  pipeline_root: str,
  data_root: str,
  experiment_pbtxt: str,
  serving_model_dir: str,
  hparams: Dict[str, Any],
  model: Dict[str, Any],
  training: Dict[str, Any],
  min_auc_true_top_1p: float,
  beam_pipeline_args: List[str],
  min_spearman: Optional[float] = None,
  tuner: Optional[Dict[str, Any]] = None,
  sweep: Optional[List[Dict[str, Any]]] = None,
  num_replicas: int = 1,
  structure: Optional[Dict[str, Any]] = None,
  metadata_connection_config: Optional[
    metadata_store_pb2.ConnectionConfig
  ] = None,
  enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
  """Builds the aptamer-tfx pipeline.

  Args:
    pipeline_name: name of the pipeline (hyphens, no underscores, for KFP).
    pipeline_root: root directory of the pipeline's artifacts.
    data_root: dataset directory with the TFRecord examples.
    experiment_pbtxt: the experiment in protobuf text format (its content,
      so a changed experiment invalidates the cache).
    serving_model_dir: where the Pusher copies a blessed model.
    hparams: `components.config.hparams.HParams` fields: the network. With a search,
      the layer counts and any pinned hyper-parameter.
    model: `components.config.model_options.ModelOptions` fields (output layer,
      loss, normalisers, inputs, additional outputs, preprocessing).
    training: `components.trainer_module.TrainingConfig` fields (epochs,
      epoch_size, eval_size, mbsz, seed, epoch_interval_to_save_best).
    min_auc_true_top_1p: blessing threshold on the mean over outputs of
      `auc/true_top_1p` on the held-out clusters.
    beam_pipeline_args: arguments for every Beam-based component.
    min_spearman: optional blessing threshold on the mean Spearman
      correlation over outputs (overall slice).
    tuner: random-search settings (`num_trials`, `tuner_loss`,
      `max_strides`, `max_rates`); None trains `hparams` directly.
    sweep: meta-parameter combinations (`components.config.sweep.MetaCombination`
      fields), one Tuner each, in parallel on Kubeflow; a SweepSelector
      picks the best configuration and reports every trial. Needs `tuner`.
    structure: StructureFeatures parameters (temperature, sodium,
      include_primers, energy_parameters, cache_dir) to add ViennaRNA
      secondary-structure features; None skips folding.
    num_replicas: Trainers of the chosen configuration with seeds
      seed..seed+N-1; the first is evaluated and pushed, a ReplicaReport
      summarises all.
    metadata_connection_config: MLMD connection (None: the orchestrator's).
    enable_cache: reuse results of unchanged components.

  Returns:
    The `tfx.dsl.Pipeline`.

  Raises:
    ValueError: inconsistent options (e.g. a sweep without tuner settings).
  """
  experiment = experiment_lib.parse_experiment(
    experiment_pbtxt, 'experiment_pbtxt'
  )
  targets = experiment_lib.non_input_count_names(experiment)

  # Ingests the TF Examples; whole sequence clusters go to one split.
  example_gen = tfx.components.ImportExampleGen(
    input_base=data_root,
    input_config=tfx.proto.Input(
      splits=[
        tfx.proto.Input.Split(
          name='single_split', pattern=configs.EXAMPLES_PATTERN
        )
      ]
    ),
    output_config=tfx.proto.Output(
      split_config=tfx.proto.SplitConfig(
        splits=[
          tfx.proto.SplitConfig.Split(
            name='train', hash_buckets=configs.TRAIN_HASH_BUCKETS
          ),
          tfx.proto.SplitConfig.Split(
            name='eval', hash_buckets=configs.EVAL_HASH_BUCKETS
          ),
        ],
        partition_feature_name=experiment_schema.CLUSTER_FEATURE,
      )
    ),
  )

  # Computes statistics over data for visualization and example validation.
  statistics_gen = tfx.components.StatisticsGen(
    examples=example_gen.outputs['examples']
  )

  # The schema is the experiment's data contract, not an inferred one.
  schema_gen = experiment_schema.ExperimentSchemaGen(
    statistics=statistics_gen.outputs['statistics'],
    experiment_pbtxt=experiment_pbtxt,
  )

  # Compares statistics with the contract (types, presence, count domain).
  example_validator = tfx.components.ExampleValidator(
    statistics=statistics_gen.outputs['statistics'],
    schema=schema_gen.outputs['schema'],
  )

  # Checks sequence content and fails on any anomaly, before training.
  contract_check = data_contract.DataContractCheck(
    examples=example_gen.outputs['examples'],
    schema=schema_gen.outputs['schema'],
    anomalies=example_validator.outputs['anomalies'],
    experiment_pbtxt=experiment_pbtxt,
    # Transform also reads the features StructureFeatures adds.
    later_float_features=','.join(folding.FEATURES) if structure else '',
  )

  options = model_options.ModelOptions.from_dict(model)
  unmapped = sorted(
    {r for reads in options.affinity_target_map.values() for r in reads}
    - set(targets)
  )
  if unmapped:
    raise ValueError(
      f'affinity_target_map names reads that are not training targets of '
      f'the experiment: {unmapped}; targets are {targets}'
    )
  combinations = [sweep_lib.MetaCombination(**c) for c in (sweep or [])]
  if combinations and not tuner:
    raise ValueError('a sweep needs tuner settings (num_trials > 0)')
  if num_replicas < 1:
    raise ValueError(f'num_replicas must be >= 1, got {num_replicas}')
  parents = experiment_lib.parent_counts(experiment)
  target_norms = sorted(
    {options.loss_norm} | {c.loss_norm for c in combinations}
  )

  # Folds every unique sequence with ViennaRNA (DNA parameters) in Beam and
  # adds the structure features, auxiliary targets for the model.
  examples = example_gen.outputs['examples']
  structure_features = None
  if structure is not None:
    structure_features = structure_component.StructureFeatures(
      examples=examples,
      forward_primer=experiment.forward_primer,
      reverse_primer=experiment.reverse_primer,
      **structure,
    )
    examples = structure_features.outputs['augmented_examples']

  # Encodes sequences and normalises counts with training-split statistics.
  transform = tfx.components.Transform(
    examples=examples,
    schema=contract_check.outputs['validated_schema'],
    preprocessing_fn=configs.PREPROCESSING_FN,
    custom_config={
      transform_module.SEQUENCE_LENGTH_KEY: int(experiment.sequence_length),
      transform_module.TARGET_NAMES_KEY: targets,
      transform_module.PARENT_NAMES_KEY: {t: parents[t] for t in targets},
      transform_module.TARGET_NORMS_KEY: target_norms,
      transform_module.INPUT_READS_KEY: sorted(
        set(experiment_lib.all_count_names(experiment)) - set(targets)
      ),
      **{
        key: options.as_dict()[key]
        for key in (
          'input_features',
          'kmer_k_max',
          'dependency_norm',
          'standardize_log_transform',
          'binarize_threshold',
          'additional_outputs',
        )
      },
    },
  )

  run_config = {
    trainer_module.EXPERIMENT_KEY: experiment_pbtxt,
    trainer_module.HPARAMS_KEY: dict(hparams),
    trainer_module.MODEL_KEY: options.as_dict(),
    trainer_module.TRAINING_KEY: dict(training),
  }
  tuned_inputs = dict(
    examples=transform.outputs['transformed_examples'],
    transform_graph=transform.outputs['transform_graph'],
    schema=contract_check.outputs['validated_schema'],
    train_args=tfx.proto.TrainArgs(num_steps=0),
    eval_args=tfx.proto.EvalArgs(num_steps=0),
  )

  # Random search: one Tuner, or one per meta-parameter combination.
  tuners = []
  best_hyperparameters = None
  for i, combination in enumerate(combinations or ([None] if tuner else [])):
    config = run_config
    if combination:
      config = {
        **run_config,
        trainer_module.HPARAMS_KEY: {
          **hparams,
          'num_fc_layers': combination.num_fc_layers,
          'num_conv_layers': combination.num_conv_layers,
        },
        trainer_module.MODEL_KEY: options.with_meta(
          combination.as_dict()
        ).as_dict(),
      }
    component = tuner_executor.AptamerTuner(
      tuner_fn=configs.TUNER_FN,
      custom_config={**config, tuner_module.TUNER_KEY: dict(tuner)},
      **tuned_inputs,
    )
    component = component.with_id(f'Tuner_{i:02d}' if combination else 'Tuner')
    tuners.append(component)
  if combinations:
    direction = tuner_module.OBJECTIVES[
      tuner.get(tuner_module.OBJECTIVE_KEY, 'auc/true_top_1p')
    ].direction
    selector = sweep_selector.make_sweep_selector(
      [t.outputs['best_hyperparameters'] for t in tuners],
      [t.outputs['tuner_results'] for t in tuners],
      [c.as_dict() for c in combinations],
      direction,
    )
    tuners.append(selector)
    best_hyperparameters = selector.outputs['best_hyperparameters']
  elif tuners:
    best_hyperparameters = tuners[0].outputs['best_hyperparameters']

  # Trains the chosen configuration, once per replica (seed + k).
  trainers = []
  for k in range(num_replicas):
    replica = tfx.components.Trainer(
      run_fn=configs.RUN_FN,
      hyperparameters=best_hyperparameters,
      custom_config={
        **run_config,
        trainer_module.TRAINING_KEY: {
          **training,
          'seed': int(training.get('seed', 0)) + k,
        },
      },
      **tuned_inputs,
    )
    trainers.append(replica if k == 0 else replica.with_id(f'Trainer_{k:02d}'))
  trainer = trainers[0]
  if num_replicas > 1:
    trainers.append(
      replica_report.make_replica_report(
        [t.outputs['model_run'] for t in trainers]
      )
    )

  # The latest blessed model is the baseline for the change thresholds.
  model_resolver = tfx.dsl.Resolver(
    strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
    model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
    model_blessing=tfx.dsl.Channel(
      type=tfx.types.standard_artifacts.ModelBlessing
    ),
  ).with_id('latest_blessed_model_resolver')

  # Evaluates on the held-out clusters and decides the blessing.
  evaluator = tfx.components.Evaluator(
    examples=examples,
    model=trainer.outputs['model'],
    baseline_model=model_resolver.outputs['model'],
    eval_config=make_eval_config(
      targets + list(options.additional_outputs),
      min_auc_true_top_1p,
      min_spearman,
    ),
  )

  components = [
    example_gen,
    statistics_gen,
    schema_gen,
    example_validator,
    contract_check,
    *([structure_features] if structure_features else []),
    transform,
    *tuners,
    *trainers,
    model_resolver,
    evaluator,
  ]

  # Pushes only a blessed model; a placeholder condition so that it also
  # compiles to a KFP v2 trigger policy.
  with tfx.dsl.Cond(
    evaluator.outputs['blessing'].future()[0].custom_property('blessed') == 1
  ):
    pusher = tfx.components.Pusher(
      model=trainer.outputs['model'],
      push_destination=tfx.proto.PushDestination(
        filesystem=tfx.proto.PushDestination.Filesystem(
          base_directory=serving_model_dir
        )
      ),
    )
  components.append(pusher)

  return tfx.dsl.Pipeline(
    pipeline_name=pipeline_name,
    pipeline_root=pipeline_root,
    components=components,
    enable_cache=enable_cache,
    metadata_connection_config=metadata_connection_config,
    beam_pipeline_args=beam_pipeline_args,
  )
