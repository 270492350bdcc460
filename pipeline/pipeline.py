"""The aptamer-tfx pipeline: DSL wiring only, no side effects."""

import json
from typing import Any
from typing import Dict
from typing import List

from ml_metadata.proto import metadata_store_pb2
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components import data_contract
from components import experiment_schema
from components import trainer_module
from components import transform_module
from components import tuner_module
from pipeline import configs
from schema import experiment as experiment_lib


def make_eval_config(
  target_names: List[str], min_auc_true_top_1p: float
) -> tfma.EvalConfig:
  """TFMA config: aptamer rank metrics on the held-out clusters.

  Each read column is one model output, labelled by its raw count (ranks do
  not depend on the normalisation). A candidate is blessed only if the mean
  over outputs of `auc/true_top_1p` (ROC-AUC for the true top 1% of nonzero
  counts, the original's model-selection metric) reaches
  `min_auc_true_top_1p`, and is no worse than the latest blessed model's
  (the change threshold is ignored while there is no baseline).
  """
  rank_metrics = tfma.MetricConfig(
    class_name='AptamerRankMetrics',
    module='components.tfma_metrics',
    config=json.dumps({'outputs': list(target_names)}),
    threshold=tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(
        lower_bound={'value': min_auc_true_top_1p}
      ),
      change_threshold=tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER,
        absolute={'value': -1e-10},
      ),
    ),
  )
  return tfma.EvalConfig(
    model_specs=[
      tfma.ModelSpec(
        signature_name='serving_default',
        label_keys={t: t for t in target_names},
        preprocessing_function_names=['transform_features'],
      )
    ],
    slicing_specs=[tfma.SlicingSpec()],
    metrics_specs=[
      tfma.MetricsSpec(
        metrics=[tfma.MetricConfig(class_name='ExampleCount'), rank_metrics]
      )
    ],
  )


def create_pipeline(
  pipeline_name: str,
  pipeline_root: str,
  data_root: str,
  experiment_pbtxt: str,
  serving_model_dir: str,
  hparams: Dict[str, Any],
  epochs: int,
  epoch_size: int,
  eval_size: int,
  mbsz: int,
  seed: int,
  min_auc_true_top_1p: float,
  beam_pipeline_args: List[str],
  tuner_trials: int = 0,
  tuner_loss: str = 'auc/true_top_1p',
  metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
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
    hparams: hyper- and meta-parameters for `components.model.HParams`.
    epochs: training epochs.
    epoch_size: examples per epoch, 0 for the whole training split.
    eval_size: validation examples evaluated per epoch, 0 for all.
    mbsz: minibatch size.
    seed: random seed of the training run.
    min_auc_true_top_1p: blessing threshold on the mean over read outputs
      of `auc/true_top_1p` on the held-out clusters.
    beam_pipeline_args: arguments for every Beam-based component.
    tuner_trials: random-search trials before training; 0 trains `hparams`
      directly. The search keeps the layer counts of `hparams` and pins any
      other hyper-parameter set there.
    tuner_loss: the search objective, 'auc/true_top_1p' (validation mean,
      maximised) or 'loss' (validation loss, minimised).
    metadata_connection_config: MLMD connection (None: the orchestrator's).
    enable_cache: reuse results of unchanged components.

  Returns:
    The `tfx.dsl.Pipeline`.
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
  )

  # Encodes sequences and normalises counts with training-split statistics.
  transform = tfx.components.Transform(
    examples=example_gen.outputs['examples'],
    schema=contract_check.outputs['validated_schema'],
    preprocessing_fn=configs.PREPROCESSING_FN,
    custom_config={
      transform_module.SEQUENCE_LENGTH_KEY: int(experiment.sequence_length),
      transform_module.TARGET_NAMES_KEY: targets,
    },
  )

  training_config = {
    trainer_module.EXPERIMENT_KEY: experiment_pbtxt,
    trainer_module.HPARAMS_KEY: dict(hparams),
    trainer_module.EPOCHS_KEY: epochs,
    trainer_module.EPOCH_SIZE_KEY: epoch_size,
    trainer_module.EVAL_SIZE_KEY: eval_size,
    trainer_module.BATCH_SIZE_KEY: mbsz,
    trainer_module.SEED_KEY: seed,
  }

  # Optionally searches hyper-parameters at random (KerasTuner).
  tuner = None
  if tuner_trials:
    tuner = tfx.components.Tuner(
      tuner_fn=configs.TUNER_FN,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      schema=contract_check.outputs['validated_schema'],
      train_args=tfx.proto.TrainArgs(num_steps=0),
      eval_args=tfx.proto.EvalArgs(num_steps=0),
      custom_config={
        **training_config,
        tuner_module.NUM_TRIALS_KEY: tuner_trials,
        tuner_module.OBJECTIVE_KEY: tuner_loss,
      },
    )

  # Trains the affinity model.
  trainer = tfx.components.Trainer(
    run_fn=configs.RUN_FN,
    examples=transform.outputs['transformed_examples'],
    transform_graph=transform.outputs['transform_graph'],
    schema=contract_check.outputs['validated_schema'],
    train_args=tfx.proto.TrainArgs(num_steps=0),
    eval_args=tfx.proto.EvalArgs(num_steps=0),
    hyperparameters=(tuner.outputs['best_hyperparameters'] if tuner else None),
    custom_config=training_config,
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
    examples=example_gen.outputs['examples'],
    model=trainer.outputs['model'],
    baseline_model=model_resolver.outputs['model'],
    eval_config=make_eval_config(targets, min_auc_true_top_1p),
  )

  components = [
    example_gen,
    statistics_gen,
    schema_gen,
    example_validator,
    contract_check,
    transform,
    *([tuner] if tuner else []),
    trainer,
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
