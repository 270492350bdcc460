"""One small builder per pipeline stage; `create_pipeline` chains them.

Each builder only instantiates and connects TFX components: the
configuration it gets was validated when it was built
(`components.config.pipeline_config.PipelineConfig`).
"""

import dataclasses
import functools
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

from tfx import v1 as tfx
from tfx.types import channel as channel_types

from components.config import fastq as fastq_lib
from components.config import keys
from components.config import pipeline_config
from components.config import run_config as run_config_lib
from components.data import data_contract
from components.data import experiment_schema
from components.data import import_example_gen
from components.data.fastq_example_gen import component as fastq_component
from components.design import designer_component
from components.evaluation import eval_config
from components.evaluation import pushed_baseline
from components.evaluation import replica_report
from components.features.structure import component as structure_component
from components.features.structure import folding_cache
from components.search import sweep_selector
from components.search import tuner_executor
from components.training import replica_mean_component
from pipeline import configs
from schema import experiment as experiment_lib

Channel = channel_types.BaseChannel

# Where the Evaluator's baseline (the latest blessed model) comes from: a
# Resolver over the metadata store (local and Vertex AI orchestrators), or
# the newest version the Pusher wrote (`pushed_baseline`; any orchestrator,
# the open-source Kubeflow backend included, which runs no resolver).
BASELINE_FROM_METADATA = 'metadata'
BASELINE_FROM_SERVING_DIR = 'serving_dir'
BASELINE_SOURCES = (BASELINE_FROM_METADATA, BASELINE_FROM_SERVING_DIR)


@dataclasses.dataclass
class Stage:
  """The components a stage adds and the channels later stages read."""

  components: List[tfx.types.BaseNode]
  outputs: dict


def data_stage(
  data_root: str,
  experiment_pbtxt: str,
  folded_features: Sequence[str],
  log_normalised_floats: List[str],
  max_count: int,
  fastq: Optional[fastq_lib.FastqSettings] = None,
) -> Stage:
  """Ingestion, statistics, the experiment's schema and the data contract.

  Args:
    data_root: dataset directory with the TFRecord examples, or with the
      FASTQ files its experiment names (`fastq`).
    experiment_pbtxt: the experiment in protobuf text format.
    folded_features: the features StructureFeatures will add (none: no
      folding); Transform reads them, so ExperimentSchemaGen's schema
      declares them.
    log_normalised_floats: float features Transform normalises with
      log(1 + x); the data contract refuses values <= -1 in them.
    max_count: the data contract refuses a count above it.
    fastq: read, filter, count and cluster FASTQ reads (FastqExampleGen)
      with these thresholds instead of importing counted examples (None).
  """
  if fastq is not None:
    # Reads -> QC -> counts -> edit-distance clusters -> the same examples,
    # with the same cluster-disjoint splits.
    example_gen = fastq_component.fastq_example_gen(
      data_root, experiment_pbtxt, **fastq.component_kwargs()
    )
  else:
    example_gen = _import_example_gen(data_root)
  return _checked_data(
    example_gen,
    experiment_pbtxt,
    folded_features,
    log_normalised_floats,
    max_count,
  )


def _import_example_gen(data_root: str):
  # Ingests the TF Examples; whole sequence clusters go to one split
  # (train / validation / test, configs.SPLIT_HASH_BUCKETS). Its executor
  # writes TFX's splits from Beam workers that import no TensorFlow.
  return import_example_gen.ImportExampleGen(
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
          tfx.proto.SplitConfig.Split(name=name, hash_buckets=buckets)
          for name, buckets in configs.SPLIT_HASH_BUCKETS
        ],
        partition_feature_name=experiment_schema.CLUSTER_FEATURE,
      )
    ),
  )


def _checked_data(
  example_gen,
  experiment_pbtxt,
  folded_features,
  log_normalised_floats,
  max_count,
) -> Stage:
  # Computes statistics over data for visualization and example validation.
  statistics_gen = tfx.components.StatisticsGen(
    examples=example_gen.outputs['examples']
  )
  # The schema is the experiment's data contract, not an inferred one; it
  # already declares the structure features that a later stage adds.
  schema_gen = experiment_schema.ExperimentSchemaGen(
    statistics=statistics_gen.outputs['statistics'],
    experiment_pbtxt=experiment_pbtxt,
    later_float_features=','.join(folded_features),
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
    log_normalised_floats=','.join(log_normalised_floats),
    max_count=max_count,
  )
  return Stage(
    components=[
      example_gen,
      statistics_gen,
      schema_gen,
      example_validator,
      contract_check,
    ],
    outputs={
      'examples': example_gen.outputs['examples'],
      'schema': contract_check.outputs['validated_schema'],
    },
  )


def feature_stage(
  examples: Channel,
  schema: Channel,
  experiment,
  config: pipeline_config.PipelineConfig,
  transform: dict,
) -> Stage:
  """ViennaRNA structure features (when configured), then Transform.

  Args:
    examples: the ingested examples.
    schema: the validated schema.
    experiment: the parsed experiment (for its primers).
    config: the pipeline's configuration; a `structure.cache_dir` is
      imported as a `FoldingCache` artifact (node `folding_cache_importer`)
      that StructureFeatures reads and extends.
    transform: Transform's custom_config.
  """
  components = []
  if config.structure is not None:
    parameters = config.structure.as_dict()
    cache = None
    if parameters.pop('cache_dir'):
      # Registers the folding cache, shared across runs, in MLMD (once per
      # directory: a rerun gets the same artifact and the TFX cache).
      importer = folding_cache.importer(config.structure.cache_dir)
      components.append(importer)
      cache = importer.outputs['result']
    # Folds every unique sequence with ViennaRNA in Beam and adds the
    # structure features, model inputs or auxiliary targets.
    structure_features = structure_component.StructureFeatures(
      examples=examples,
      forward_primer=experiment.forward_primer,
      reverse_primer=experiment.reverse_primer,
      cache=cache,
      **parameters,
    )
    components.append(structure_features)
    examples = structure_features.outputs['augmented_examples']
  # Encodes sequences and normalises counts with training-split statistics.
  # No TFDV statistics of Transform's input and output: StatisticsGen and
  # DataContractCheck already checked the examples, nothing reads these,
  # and they held most of Transform's memory, which grew with the data
  # (peak 7.4 GiB at 300,000 sequences, 3.4 without: benchmarks/RESULTS.md).
  transform_component = tfx.components.Transform(
    examples=examples,
    schema=schema,
    preprocessing_fn=configs.PREPROCESSING_FN,
    custom_config=transform,
    disable_statistics=True,
  )
  components.append(transform_component)
  return Stage(
    components=components,
    outputs={
      'examples': examples,
      'transformed_examples': transform_component.outputs[
        'transformed_examples'
      ],
      'transform_graph': transform_component.outputs['transform_graph'],
    },
  )


def trained_inputs(features: Stage, schema: Channel) -> dict:
  """The inputs every Tuner and Trainer reads."""
  return dict(
    examples=features.outputs['transformed_examples'],
    transform_graph=features.outputs['transform_graph'],
    schema=schema,
    # Validation selects (best epoch, Tuner objective); test is never seen.
    train_args=tfx.proto.TrainArgs(splits=[keys.TRAIN_SPLIT], num_steps=0),
    eval_args=tfx.proto.EvalArgs(splits=[keys.VALIDATION_SPLIT], num_steps=0),
  )


def search_stage(
  inputs: dict,
  run: run_config_lib.RunConfig,
  config: pipeline_config.PipelineConfig,
) -> Stage:
  """Random search: one Tuner, or one per sweep combination and a selector.

  `outputs['best_hyperparameters']` is None when nothing is searched.
  """
  if config.tuner is None:
    return Stage(components=[], outputs={'best_hyperparameters': None})
  searched = dataclasses.replace(run, tuner=config.tuner)
  if not config.sweep:
    tuner = tuner_executor.AptamerTuner(
      tuner_fn=configs.TUNER_FN,
      custom_config=searched.to_custom_config(),
      **inputs,
    ).with_id('Tuner')
    return Stage(
      components=[tuner],
      outputs={'best_hyperparameters': tuner.outputs['best_hyperparameters']},
    )
  tuners = [
    tuner_executor.AptamerTuner(
      tuner_fn=configs.TUNER_FN,
      custom_config=searched.for_combination(c).to_custom_config(),
      **inputs,
    ).with_id(f'Tuner_{i:02d}')
    for i, c in enumerate(config.sweep)
  ]
  # Picks the best configuration over every combination's trials.
  selector = sweep_selector.make_sweep_selector(
    [t.outputs['best_hyperparameters'] for t in tuners],
    [t.outputs['tuner_results'] for t in tuners],
    [c.as_dict() for c in config.sweep],
    config.tuner.direction,
  )
  return Stage(
    components=[*tuners, selector],
    outputs={'best_hyperparameters': selector.outputs['best_hyperparameters']},
  )


def training_stage(
  inputs: dict,
  run: run_config_lib.RunConfig,
  best_hyperparameters: Optional[Channel],
  num_replicas: int,
  serve_replica_mean: bool = True,
) -> Stage:
  """Trains the chosen configuration once per replica (seed + k).

  With replicas a ReplicaReport summarises them, and the evaluated (and
  pushed) model is their mean (ReplicaMean), or with `serve_replica_mean`
  off the first replica.
  """
  trainers = []
  for k in range(num_replicas):
    trainer = tfx.components.Trainer(
      run_fn=configs.RUN_FN,
      hyperparameters=best_hyperparameters,
      custom_config=run.for_replica(k).to_custom_config(),
      **inputs,
    )
    trainers.append(trainer if k == 0 else trainer.with_id(f'Trainer_{k:02d}'))
  components = list(trainers)
  served = trainers[0].outputs['model']
  if num_replicas > 1:
    components.append(
      replica_report.make_replica_report(
        [t.outputs['model_run'] for t in trainers]
      )
    )
    if serve_replica_mean:
      mean = replica_mean_component.make_replica_mean(
        [t.outputs['model'] for t in trainers]
      )
      components.append(mean)
      served = mean.outputs['model']
  return Stage(
    components=components,
    outputs={
      'model': served,
      'replica_models': [t.outputs['model'] for t in trainers],
    },
  )


def evaluation_stage(
  examples: Channel,
  model: Channel,
  outputs: List[str],
  config: pipeline_config.PipelineConfig,
  affinity_evidence: Optional[Dict[str, str]] = None,
  evidence_levels: Optional[Dict[str, int]] = None,
  baseline_source: str = BASELINE_FROM_METADATA,
  serving_model_dir: str = '',
) -> Stage:
  """TFMA on the test split against the latest blessed model.

  `affinity_evidence` ({affinity output: molecule},
  `eval_config.affinity_evidence`) adds the affinity gate, with each
  molecule's stringency levels `evidence_levels`. `baseline_source` (one of
  BASELINE_SOURCES) says how the latest blessed model is found; from the
  serving directory, it is the newest version under `serving_model_dir`.
  """
  if baseline_source == BASELINE_FROM_METADATA:
    baseline = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(
        type=tfx.types.standard_artifacts.ModelBlessing
      ),
    ).with_id('latest_blessed_model_resolver')
    baseline_model = baseline.outputs['model']
  elif baseline_source == BASELINE_FROM_SERVING_DIR:
    if not serving_model_dir:
      raise ValueError('a serving-directory baseline needs serving_model_dir')
    baseline = pushed_baseline.PushedModelBaseline(
      model=model, serving_model_dir=serving_model_dir
    )
    baseline_model = baseline.outputs['baseline_model']
  else:
    raise ValueError(
      f'baseline_source={baseline_source!r}: expected one of {BASELINE_SOURCES}'
    )
  # Evaluates on the test clusters, which nothing that selects has seen,
  # and decides the blessing.
  evaluator = tfx.components.Evaluator(
    examples=examples,
    example_splits=[keys.TEST_SPLIT],
    model=model,
    baseline_model=baseline_model,
    eval_config=eval_config.make_eval_config(
      outputs,
      config.blessing.min_auc_true_top_1p,
      config.blessing.min_spearman,
      min_affinity_auc=config.blessing.min_affinity_auc,
      min_affinity_spearman=config.blessing.min_affinity_spearman,
      affinity_evidence=affinity_evidence,
      evidence_levels=evidence_levels,
    ),
    # TFMA's default extractors with less Python per example (trimmed
    # batches, numpy unbatching, cached slice keys): the same metrics,
    # 1.6x faster on a large test split (benchmarks/RESULTS.md).
    module_path=eval_config.EVALUATOR_MODULE,
  )
  return Stage(
    components=[baseline, evaluator],
    outputs={'blessing': evaluator.outputs['blessing']},
  )


def push_stage(
  model: Channel,
  blessing: Channel,
  serving_model_dir: str,
  designer: Optional[Callable[[], tfx.types.BaseNode]] = None,
) -> Stage:
  """Pushes, and designs with, only a blessed model.

  A placeholder condition, so that it also compiles to a KFP v2 trigger
  policy.

  Args:
    model: the evaluated model.
    blessing: its blessing.
    serving_model_dir: where the Pusher copies it.
    designer: builds the Designer (`design_component`), or None.
  """
  with tfx.dsl.Cond(blessing.future()[0].custom_property('blessed') == 1):
    pusher = tfx.components.Pusher(
      model=model,
      push_destination=tfx.proto.PushDestination(
        filesystem=tfx.proto.PushDestination.Filesystem(
          base_directory=serving_model_dir
        )
      ),
    )
    components = [pusher]
    if designer is not None:
      # Built inside the condition: it runs only for a blessed model.
      components.append(designer().with_id('Designer'))
  return Stage(components=components, outputs={})


def design_component(
  models: List[Channel],
  blessing: Channel,
  examples: Channel,
  config: pipeline_config.PipelineConfig,
  experiment,
) -> Callable[[], tfx.types.BaseNode]:
  """The Designer's builder (seeds, walk, order files; components/design)."""
  structure = None
  if config.structure is not None:
    structure = config.structure.as_dict()
    structure.pop('cache_dir')
    structure.update(
      forward_primer=experiment.forward_primer,
      reverse_primer=experiment.reverse_primer,
    )
  return functools.partial(
    designer_component.make_designer,
    models,
    blessing,
    examples,
    config.design,
    experiment_lib.selection_signs(experiment).molecules,
    experiment.sequence_length,
    structure,
  )
