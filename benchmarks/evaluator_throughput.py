"""Evaluator throughput: TFMA in Beam versus numpy on in-memory arrays.

Evaluates one trained model on the held-out (`test`) split of a simulated
dataset larger than the demo, four ways in one process on the same examples:

  * Evaluator: the TFX Evaluator's own executor
    (`tfx.components.evaluator.executor.Executor.Do`) with the artifacts of
    this benchmark's pipeline run, the pipeline's EvalConfig
    (`make_eval_config`: RowExampleCount and AptamerRankMetrics, overall
    and two feature slices) and the pipeline's `module_path`
    (`evaluator_extractors`: TFMA's default extractors, each batch trimmed
    to what slicing and metrics read, then one extract per batch and slice
    key, `slice_batches`), on the Beam DirectRunner in_memory, end to end
    (model loading, reading the gzip TFRecords, predicting, slicing,
    metrics, writing the results);
  * the same executor without a module: TFMA's default extractors, as the
    Evaluator ran before;
  * baseline, metrics only: `rank_metrics.evaluation_table` on the raw counts
    and the model's predictions, both already numpy arrays in memory;
  * baseline, predict + metrics: the same plus predicting the examples with
    the SavedModel's `serving_default` in large batches (loading the model
    is timed apart). Both baselines are medians of 5 repeats.

Reports examples/second of each, their ratios, and checks that the overall
mean `auc/true_top_1p` of TFMA equals the numpy one (to 1e-6) and that both
Evaluator runs wrote the same metric keys, values (every slice; to 1e-6,
as two runs of either differ in float32 rounding of batch-dependent
predictions) and blessing. The first run simulates the dataset and runs
the pipeline up to the Trainer (1 epoch, a small network) into
`--work_dir`; later runs reuse both. With `--run_dir` and `--input_dir` it
evaluates instead the latest model and examples of an existing
`local_runner` run (e.g. `benchmarks/paper_scale.py`'s million-sequence
run, whose test split has 150,341 examples).

Usage: python benchmarks/evaluator_throughput.py [--num_families 50000]
  [--work_dir DIR] [--run_dir RUN_DIR --input_dir DATASET_DIR]
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import apache_beam as beam  # noqa: E402
from ml_metadata import metadata_store  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_analysis as tfma  # noqa: E402
from tensorflow_model_analysis.metrics import metric_types  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx.components.evaluator import executor as evaluator_executor  # noqa: E402
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.orchestration import pipeline as tfx_pipeline  # noqa: E402
from tfx.types import artifact_utils  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402
from tfx.types import standard_component_specs  # noqa: E402
from tfx.utils import proto_utils  # noqa: E402

from components.config import keys  # noqa: E402
from components.evaluation import eval_config as eval_config_lib  # noqa: E402
from components.evaluation import rank_metrics  # noqa: E402
from components.evaluation import tfma_metrics  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import local_runner  # noqa: E402
from schema import experiment as experiment_lib  # noqa: E402
import simulation  # noqa: E402
from tools import run_artifacts  # noqa: E402

# Reads per sequenced pool per family: the demo's 150,000 / 6,000, so a
# larger library is sequenced as deeply as the demo's.
_READS_PER_FAMILY = 25
_PREDICT_BATCH = 8192
_REPEATS = 5
_METRIC = rank_metrics.TUNER_OBJECTIVE_KEY


def _dataset(work_dir, num_families):
  """Simulates the dataset once; returns its directory."""
  path = os.path.join(work_dir, 'data', f'sim-{num_families}-families')
  if not os.path.exists(os.path.join(path, 'experiment.pbtxt')):
    start = time.perf_counter()
    result = simulation.simulate(
      simulation.SimulationConfig(
        num_families=num_families, depth=_READS_PER_FAMILY * num_families
      )
    )
    summary = simulation.write_dataset(result, path, overwrite=True)
    print(
      f'simulated {summary.num_examples} examples into {path} in '
      f'{time.perf_counter() - start:.0f} s'
    )
  return path


def _latest_artifact(options, type_name, producer):
  """The newest MLMD artifact of a type written by `producer`, as TFX's."""
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(
      options.metadata_path
    )
  )
  artifact = run_artifacts.latest_output(
    options.metadata_path, configs.PIPELINE_NAME, producer, type_name=type_name
  )
  if artifact is None:
    raise RuntimeError(f'no {type_name} artifact of {producer}')
  [artifact_type] = store.get_artifact_types_by_id([artifact.type_id])
  return artifact_utils.deserialize_artifact(artifact_type, artifact)


def _trained_model(options):
  """Runs the pipeline up to the Trainer (cached); its examples and model."""
  # Stops before the Evaluator: it would rerun on every run (its baseline,
  # the latest blessed model, changes) and is timed below instead.
  tfx.orchestration.LocalDagRunner().run(
    local_runner.build_pipeline(options),
    run_options=tfx_pipeline.RunOptions(to_nodes=['Trainer']),
  )
  return (
    _latest_artifact(options, 'Examples', 'ImportExampleGen'),
    _latest_artifact(options, 'Model', 'Trainer'),
  )


def _existing_run(run_dir, input_dir):
  """Options, examples and model of an existing local_runner run."""
  options = local_runner.RunOptions(
    save_base=os.path.dirname(os.path.abspath(run_dir)),
    run_name=os.path.basename(os.path.abspath(run_dir)),
    input_dir=input_dir,
  )
  try:
    # With structure features the Evaluator reads StructureFeatures' output.
    examples = _latest_artifact(options, 'Examples', 'StructureFeatures')
  except RuntimeError:
    examples = _latest_artifact(options, 'Examples', 'ImportExampleGen')
  return options, examples, _latest_artifact(options, 'Model', 'Trainer')


def _run_evaluator(
  examples, model, eval_config, options, output_dir, module_path
):
  """The Evaluator's executor on the test split: seconds, results URI.

  `module_path` is the Evaluator's (its custom extractors); None runs
  TFMA's default extractors.
  """
  shutil.rmtree(output_dir, ignore_errors=True)
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = os.path.join(output_dir, 'evaluation')
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = os.path.join(output_dir, 'blessing')
  for artifact in (evaluation, blessing):
    os.makedirs(artifact.uri)
  executor = evaluator_executor.Executor(
    base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=local_runner.local_beam_args(options),
      tmp_dir=os.path.join(output_dir, 'tmp'),
      unique_id='bench',
    )
  )
  exec_properties = {
    standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(
      eval_config
    ),
    # The split the pipeline's Evaluator reads (stages.evaluation_stage).
    standard_component_specs.EXAMPLE_SPLITS_KEY: json.dumps([keys.TEST_SPLIT]),
  }
  if module_path:
    exec_properties[standard_component_specs.MODULE_PATH_KEY] = module_path
  start = time.perf_counter()
  executor.Do(
    {
      standard_component_specs.EXAMPLES_KEY: [examples],
      standard_component_specs.MODEL_KEY: [model],
    },
    {
      standard_component_specs.EVALUATION_KEY: [evaluation],
      standard_component_specs.BLESSING_KEY: [blessing],
    },
    exec_properties,
  )
  return time.perf_counter() - start, evaluation.uri


def _tfma_all_metrics(evaluation_uri):
  """{(slice, metric key): value} of every written metric (a double, else
  the serialized value)."""
  return {
    (str(m.slice_key), str(kv.key)): (
      kv.value.double_value.value
      if kv.value.HasField('double_value')
      else kv.value.SerializeToString()
    )
    for m in tfma.load_metrics(evaluation_uri)
    for kv in m.metric_keys_and_values
  }


def _compare_metrics(ours, theirs):
  """(same keys, values bit-identical, largest |difference| of doubles).

  NaN equals NaN. Two runs of the same extractors differ in the last
  float32 bits too: TFMA batches dynamically and the model's kernels round
  differently per batch.
  """
  if ours.keys() != theirs.keys():
    return False, 0, float('inf')
  identical, largest = 0, 0.0
  for key, value in theirs.items():
    other = ours[key]
    if other == value or (
      isinstance(value, float) and np.isnan(value) and np.isnan(other)
    ):
      identical += 1
    elif isinstance(value, float):
      largest = max(largest, abs(other - value))
    else:
      largest = float('inf')
  return True, identical, largest


def _tfma_overall_metric(evaluation_uri):
  """Overall-slice mean-over-outputs `auc/true_top_1p` from the results."""
  for metrics in tfma.load_metrics(evaluation_uri):
    if metrics.slice_key.single_slice_keys:
      continue
    for kv in metrics.metric_keys_and_values:
      key = kv.key
      if key.name == _METRIC and not key.output_name:
        return kv.value.double_value.value
  raise RuntimeError(f'{_METRIC} not found in {evaluation_uri}')


def _eval_arrays(examples, targets):
  """Serialized test-split examples and their raw target counts, in memory."""
  split_dir = artifact_utils.get_split_uri([examples], keys.TEST_SPLIT)
  files = sorted(tf.io.gfile.glob(os.path.join(split_dir, '*')))
  serialized = np.array(
    [r.numpy() for r in tf.data.TFRecordDataset(files, 'GZIP')], dtype=object
  )
  spec = {t: tf.io.FixedLenFeature([1], tf.int64) for t in targets}
  counts = []
  for start in range(0, len(serialized), _PREDICT_BATCH):
    parsed = tf.io.parse_example(
      serialized[start : start + _PREDICT_BATCH], spec
    )
    counts.append(np.column_stack([parsed[t].numpy()[:, 0] for t in targets]))
  return serialized, np.concatenate(counts).astype(np.float64)


def _predict(predict_fn, serialized, targets):
  """Predicted normalised counts [N, T], in large batches."""
  parts = []
  for start in range(0, len(serialized), _PREDICT_BATCH):
    out = predict_fn(
      examples=tf.constant(serialized[start : start + _PREDICT_BATCH])
    )
    parts.append(np.column_stack([out[t].numpy() for t in targets]))
  return np.concatenate(parts).astype(np.float64)


def _median_seconds(fn, repeats=_REPEATS):
  """Median seconds of `repeats` calls of fn, and its last result."""
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    seconds.append(time.perf_counter() - start)
  return float(np.median(seconds)), result


def _combiner_seconds(actual, predicted, targets, num_slices):
  """AptamerRankMetrics' combiner fed in-memory inputs, as TFMA feeds it.

  One add_input per example and slice (TFMA feeds each example once per
  slice it falls in), then extract_output per slice: the Python cost of the
  metric itself, without Beam or the model.
  """
  [computation] = tfma_metrics.AptamerRankMetrics(targets).computations(
    eval_config=None, model_names=['']
  )
  combiner = computation.combiner
  inputs = [
    metric_types.StandardMetricInputs(
      labels={t: np.array([a[i]]) for i, t in enumerate(targets)},
      predictions={t: np.array([p[i]]) for i, t in enumerate(targets)},
    )
    for a, p in zip(actual, predicted)
  ]
  start = time.perf_counter()
  for _ in range(num_slices):
    acc = combiner.create_accumulator()
    for element in inputs:
      acc = combiner.add_input(acc, element)
    combiner.extract_output(acc)
  return time.perf_counter() - start


def _beam_startup_seconds(options):
  """A trivial pipeline on the same runner: Beam's fixed cost."""
  start = time.perf_counter()
  with beam.Pipeline(argv=local_runner.local_beam_args(options)) as pipeline:
    _ = pipeline | beam.Create([0]) | beam.Map(lambda x: x)
  return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    '--num_families',
    type=int,
    default=50000,
    help='Simulated families (about 5.5 observed sequences each; one in '
    'five families is held out).',
  )
  parser.add_argument(
    '--work_dir', default=os.path.join(configs.REPO_ROOT, 'output', 'bench')
  )
  parser.add_argument(
    '--run_dir',
    help='An existing local_runner run (SAVE_BASE/RUN_NAME) to evaluate '
    "instead of this benchmark's own; needs --input_dir.",
  )
  parser.add_argument('--input_dir', help='The dataset of --run_dir.')
  args = parser.parse_args()
  if bool(args.run_dir) != bool(args.input_dir):
    parser.error('--run_dir and --input_dir go together')

  if args.run_dir:
    options, examples, model = _existing_run(args.run_dir, args.input_dir)
  else:
    options = local_runner.RunOptions(
      save_base=args.work_dir,
      run_name=f'evaluator-throughput-{args.num_families}',
      input_dir=_dataset(args.work_dir, args.num_families),
      epochs=1,
      num_conv_layers=1,
      num_fc_layers=1,
      min_auc_true_top_1p=0.0,
    )
    start = time.perf_counter()
    examples, model = _trained_model(options)
    print(f'pipeline up to the Trainer: {time.perf_counter() - start:.0f} s')
  experiment = experiment_lib.parse_experiment(
    local_runner.load_dataset_experiment(options.input_dir)
  )
  targets = experiment_lib.non_input_count_names(experiment)
  eval_config = eval_config_lib.make_eval_config(targets, 0.0)

  # Baseline inputs, read outside every timing: arrays already in memory.
  serialized, actual = _eval_arrays(examples, targets)
  num_examples = len(serialized)

  start = time.perf_counter()
  loaded = tf.saved_model.load(os.path.join(model.uri, 'Format-Serving'))
  predict_fn = loaded.signatures['serving_default']
  _predict(predict_fn, serialized[:16], targets)  # Tracing, first call.
  load_seconds = time.perf_counter() - start
  # Sub-second timings: the median of a few repeats, against load spikes.
  predict_seconds, predicted = _median_seconds(
    lambda: _predict(predict_fn, serialized, targets)
  )
  metrics_seconds, table = _median_seconds(
    lambda: rank_metrics.evaluation_table(actual, predicted, targets)
  )
  numpy_auc = table[rank_metrics.MEAN_ROW][_METRIC]

  # The pipeline's Evaluator first (where the only run used to be), then
  # TFMA's default extractors.
  tfma_seconds, evaluation_uri = _run_evaluator(
    examples,
    model,
    eval_config,
    options,
    os.path.join(options.run_dir, 'bench_evaluator'),
    eval_config_lib.EVALUATOR_MODULE,
  )
  default_seconds, default_uri = _run_evaluator(
    examples,
    model,
    eval_config,
    options,
    os.path.join(options.run_dir, 'bench_evaluator_default'),
    None,
  )
  tfma_auc = _tfma_overall_metric(evaluation_uri)
  ours, theirs = (
    _tfma_all_metrics(evaluation_uri),
    _tfma_all_metrics(default_uri),
  )
  same_keys, identical, largest = _compare_metrics(ours, theirs)
  same_blessing = (
    tfma.load_validation_result(evaluation_uri).validation_ok
    == tfma.load_validation_result(default_uri).validation_ok
  )

  # A rough split of the Evaluator's time (each measured apart).
  beam_seconds = _beam_startup_seconds(options)
  combiner_seconds = _combiner_seconds(
    actual, predicted, targets, len(eval_config.slicing_specs)
  )

  rates = {
    'metrics': num_examples / metrics_seconds,
    'predict+metrics': num_examples / (predict_seconds + metrics_seconds),
    'tfma': num_examples / tfma_seconds,
    'tfma_default_extractors': num_examples / default_seconds,
  }
  print(
    f'\n{num_examples} eval examples ({len(targets)} outputs, '
    f'{len(eval_config.slicing_specs)} slicing specs), load average '
    f'{os.getloadavg()[0]:.2f}'
  )
  print('| input | examples/s | seconds |\n|---|---|---|')
  print(
    f'| numpy arrays in memory, metrics only (baseline) | '
    f'{rates["metrics"]:,.0f} | {metrics_seconds:.2f} |'
  )
  print(
    f'| numpy arrays in memory, predict + metrics (baseline) | '
    f'{rates["predict+metrics"]:,.0f} | '
    f'{predict_seconds + metrics_seconds:.2f} |'
  )
  print(
    f'| Evaluator executor (TFMA, DirectRunner in_memory) | '
    f'{rates["tfma"]:,.0f} | {tfma_seconds:.2f} |'
  )
  print(
    f'| Evaluator executor, TFMA default extractors (no module_path) | '
    f'{rates["tfma_default_extractors"]:,.0f} | {default_seconds:.2f} |'
  )
  print(
    f'ratio Evaluator / metrics only: {rates["tfma"] / rates["metrics"]:.4f}'
  )
  print(
    'ratio Evaluator / predict + metrics: '
    f'{rates["tfma"] / rates["predict+metrics"]:.3f}'
  )
  print(
    f'baseline split: model load + trace {load_seconds:.2f} s (untimed '
    f'above), predict {predict_seconds:.2f} s, metrics '
    f'{metrics_seconds:.2f} s'
  )
  print(
    f'Evaluator time, rough split (measured apart): Beam start-up '
    f'{beam_seconds:.2f} s, model load {load_seconds:.2f} s, '
    f'AptamerRankMetrics combiner alone ({num_examples} examples x '
    f'{len(eval_config.slicing_specs)} slicing specs) '
    f'{combiner_seconds:.2f} s'
  )
  difference = abs(tfma_auc - numpy_auc)
  print(
    f'mean {_METRIC}: TFMA {tfma_auc:.9f}, numpy {numpy_auc:.9f}, '
    f'|difference| {difference:.2e} '
    f'({"OK" if difference <= 1e-6 else "MISMATCH"}, tolerance 1e-6)'
  )
  same_metrics = same_keys and largest <= 1e-6
  print(
    f'Evaluator with its module vs TFMA default extractors: '
    f'{len(theirs)} metric values (slices x keys), '
    f'{"same keys" if same_keys else "KEYS DIFFER"}, {identical} '
    f'bit-identical, largest |difference| {largest:.1e} '
    f'({"OK" if same_metrics else "MISMATCH"}, tolerance 1e-6); blessing '
    f'{"equal" if same_blessing else "DIFFERS"}; speed-up '
    f'{default_seconds / tfma_seconds:.2f}x'
  )
  print(json.dumps({'rates': rates, 'load': os.getloadavg()}))


if __name__ == '__main__':
  main()
