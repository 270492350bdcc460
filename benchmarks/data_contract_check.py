"""DataContractCheck throughput: the component's executor versus a bare loop.

On the ImportExampleGen output of an existing pipeline run (for instance a
`benchmarks/paper_scale.py` run directory), in one process run:

  * baseline: a single-process loop that reads every split's gzip
    TFRecords with Python's gzip module, parses each record as a
    `tf.train.Example` and runs `contract_rules.check_example` on it (the
    per-example rules only: no duplicate or column checks, no Beam);
  * executor: DataContractCheck's own executor (as TFX calls it) on the
    DirectRunner, multi_processing with --workers workers: every per-example
    rule, the duplicate sequences and all-zero columns over all splits,
    ExampleValidator's anomalies, worker start-up included.

Reports examples/s of each and the ratio executor / baseline, with the load
average; the runs alternate --repeats times (medians). No target is set.

Usage:
  python benchmarks/data_contract_check.py --run_dir RUN_DIR \
      [--workers 2] [--repeats 2]
where RUN_DIR holds `pipeline/` (ImportExampleGen, ExperimentSchemaGen,
ExampleValidator outputs). The dataset's `experiment.pbtxt` is --experiment,
or else the one in a folder beside RUN_DIR's parent (paper_scale.py's
layout: WORK_DIR/data_*/ and WORK_DIR/runs/RUN/).
"""

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
# Beam's worker processes import the component's modules too.
os.environ['PYTHONPATH'] = os.pathsep.join(
  p for p in (_ROOT, os.environ.get('PYTHONPATH')) if p
)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import gzip_tfrecords  # noqa: E402
import tensorflow as tf  # noqa: E402
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.types import artifact_utils  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402

from components.config import keys  # noqa: E402
from components.data import contract_rules  # noqa: E402
from components.data import data_contract  # noqa: E402
from pipeline import beam_runners  # noqa: E402
from schema import experiment as experiment_lib  # noqa: E402

SPLITS = [keys.TRAIN_SPLIT, keys.VALIDATION_SPLIT, keys.TEST_SPLIT]


def _latest(pattern):
  paths = glob.glob(pattern)
  if not paths:
    raise SystemExit(f'nothing matches {pattern}')
  return max(paths, key=lambda p: int(os.path.basename(p)))


def _artifact(cls, uri, split_names=None):
  artifact = cls()
  artifact.uri = uri
  if split_names:
    artifact.split_names = artifact_utils.encode_split_names(split_names)
  return artifact


def _baseline(examples_uri, length, count_names):
  """(examples, seconds): parse + per-example rules in this process."""
  start = time.perf_counter()
  examples = 0
  for split in SPLITS:
    for path in sorted(
      glob.glob(os.path.join(examples_uri, f'Split-{split}', '*'))
    ):
      for record in gzip_tfrecords.records(path):
        example = tf.train.Example.FromString(record)
        contract_rules.check_example(example, length, count_names)
        examples += 1
  return examples, time.perf_counter() - start


def _executor_seconds(pipeline_root, experiment_pbtxt, workers):
  examples = _artifact(
    standard_artifacts.Examples,
    _latest(os.path.join(pipeline_root, 'ImportExampleGen', 'examples', '*')),
    SPLITS,
  )
  schema = _artifact(
    standard_artifacts.Schema,
    _latest(os.path.join(pipeline_root, 'ExperimentSchemaGen', 'schema', '*')),
  )
  anomalies = _artifact(
    standard_artifacts.ExampleAnomalies,
    _latest(os.path.join(pipeline_root, 'ExampleValidator', 'anomalies', '*')),
    SPLITS,
  )
  with tempfile.TemporaryDirectory() as tmp:
    output = _artifact(standard_artifacts.Schema, os.path.join(tmp, 'schema'))
    args = beam_runners.with_local_dependencies(
      [
        '--direct_running_mode=multi_processing',
        f'--direct_num_workers={workers}',
      ]
    )
    executor_class = (
      data_contract.DataContractCheck.EXECUTOR_SPEC.executor_class
    )
    executor = executor_class(
      base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=args, tmp_dir=os.path.join(tmp, 'beam')
      )
    )
    start = time.perf_counter()
    executor.Do(
      {'examples': [examples], 'schema': [schema], 'anomalies': [anomalies]},
      {'validated_schema': [output]},
      {
        'experiment_pbtxt': experiment_pbtxt,
        'log_normalised_floats': '',
        'max_count': contract_rules.DEFAULT_MAX_COUNT,
      },
    )
    return time.perf_counter() - start, examples.uri


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--run_dir', required=True)
  parser.add_argument('--experiment', default='')
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args()
  pipeline_root = os.path.join(args.run_dir, 'pipeline')
  experiment_path = args.experiment or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(args.run_dir))),
    '*',
    experiment_lib.EXPERIMENT_FILENAME,
  )
  (experiment_path,) = glob.glob(experiment_path)[:1] or [experiment_path]
  with open(experiment_path) as f:
    experiment_pbtxt = f.read()
  experiment = experiment_lib.parse_experiment(
    experiment_pbtxt, experiment_path
  )
  count_names = experiment_lib.all_count_names(experiment)
  load_start = os.getloadavg()[0]
  executor_s, baseline_s = [], []
  for _ in range(args.repeats):
    seconds, examples_uri = _executor_seconds(
      pipeline_root, experiment_pbtxt, args.workers
    )
    executor_s.append(seconds)
    examples, seconds = _baseline(
      examples_uri, experiment.sequence_length, count_names
    )
    baseline_s.append(seconds)
  executor_rate = examples / statistics.median(executor_s)
  baseline_rate = examples / statistics.median(baseline_s)
  print(
    f'\n{examples:,} examples ({experiment_path}), {args.workers} workers, '
    f'{args.repeats} alternating runs each (median), load '
    f'{load_start:.2f} -> {os.getloadavg()[0]:.2f}'
  )
  print('| input | seconds (each run) | examples/s |\n|---|---|---|')
  print(
    '| bare loop: gzip, parse, per-example rules (one process) | '
    f'{", ".join(f"{s:.1f}" for s in baseline_s)} | {baseline_rate:,.0f} |'
  )
  print(
    f'| DataContractCheck executor ({args.workers} workers, all checks) | '
    f'{", ".join(f"{s:.1f}" for s in executor_s)} | {executor_rate:,.0f} |'
  )
  print(f'ratio executor / bare loop: {executor_rate / baseline_rate:.2f}')


if __name__ == '__main__':
  main()
