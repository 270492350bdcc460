"""ImportExampleGen throughput: our executor, TFX's, and a bare loop.

On a dataset directory of gzip TFRecords of tf.Examples (for instance one
`benchmarks/paper_scale.py` simulated), in one process, alternating
--repeats times (medians):

  * bare loop: one process reads every record with Python's gzip module,
    parses it (`example_proto`), assigns its split (`split_writing`, TFX's
    hash of the `cluster` feature) and writes it, deterministically
    serialised, to a gzip TFRecord per split;
  * TFX: TFX's own ImportExampleGen executor, as the pipeline ran it
    before;
  * ours: `components.data.import_example_gen.Executor`, what the pipeline
    runs;

both executors on the DirectRunner, multi_processing with --workers
workers, worker start-up included, with the pipeline's input and output
configs. The two executors' outputs are checked equal: the same examples
in the same splits (per-split multisets of hashes of each example's
deterministic serialisation; TFX writes map entries in its parser's order,
ours sorted). Reports examples/s and the ratio to the bare loop.

Usage:
  python benchmarks/import_example_gen.py --input_dir DATASET_DIR \
      [--workers 2] [--repeats 2]
"""

import argparse
import collections
import glob
import hashlib
import os
import statistics
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
# Beam's worker processes import the executor's modules too.
os.environ['PYTHONPATH'] = os.pathsep.join(
  p for p in (_ROOT, os.environ.get('PYTHONPATH')) if p
)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import gzip_tfrecords  # noqa: E402
from tfx.components.example_gen.import_example_gen import (  # noqa: E402
  executor as tfx_executor,
)
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402

from components.data import example_gen_splits  # noqa: E402
from components.data import import_example_gen  # noqa: E402
from components.data import split_writing  # noqa: E402
from pipeline import beam_runners  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import stages  # noqa: E402
from schema import example_proto  # noqa: E402


def _exec_properties(input_dir):
  """The exec properties the pipeline's ImportExampleGen runs with."""
  return dict(stages._import_example_gen(input_dir).exec_properties)  # pylint: disable=protected-access


def _bare_loop(input_dir, properties, out_dir):
  """(examples, seconds) of read, parse, assign and write in one process."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  _, output_config = example_gen_splits.input_and_output_configs(properties)
  assign = example_gen_splits.split_assigner('bare loop', output_config)
  names = [split.name for split in output_config.split_config.splits]
  start = time.perf_counter()
  writers = [
    tf.io.TFRecordWriter(os.path.join(out_dir, f'{name}.gz'), 'GZIP')
    for name in names
  ]
  examples = 0
  for path in sorted(
    glob.glob(os.path.join(input_dir, configs.EXAMPLES_PATTERN))
  ):
    for record in gzip_tfrecords.records(path):
      index, serialized = split_writing.assign_record(record, assign)
      writers[index].write(serialized)
      examples += 1
  for writer in writers:
    writer.close()
  return examples, time.perf_counter() - start


def _run_executor(executor_class, properties, out_dir, workers):
  """(seconds, output artifact) of one executor run."""
  output = standard_artifacts.Examples()
  output.uri = os.path.join(out_dir, 'examples')
  args = beam_runners.with_local_dependencies(
    [
      '--direct_running_mode=multi_processing',
      f'--direct_num_workers={workers}',
    ]
  )
  executor = executor_class(
    base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=args, tmp_dir=os.path.join(out_dir, 'beam')
    )
  )
  start = time.perf_counter()
  executor.Do({}, {'examples': [output]}, dict(properties))
  return time.perf_counter() - start, output


def _fingerprint(output):
  """Split -> (records, multiset hash of their bytes)."""
  result = {}
  for folder in sorted(glob.glob(os.path.join(output.uri, 'Split-*'))):
    count, total = 0, 0
    for path in glob.glob(os.path.join(folder, '*.gz')):
      for record in gzip_tfrecords.records(path):
        # TFX writes maps in its parser's order, ours sorted: compare the
        # examples, not their encoding.
        canonical = example_proto.Example.FromString(record).SerializeToString(
          deterministic=True
        )
        digest = hashlib.blake2b(canonical, digest_size=8).digest()
        total = (total + int.from_bytes(digest, 'little')) % (1 << 64)
        count += 1
    result[os.path.basename(folder)] = (count, total)
  return result


def _files(output):
  """Split -> how many files it was written in."""
  result = {}
  for folder in sorted(glob.glob(os.path.join(output.uri, 'Split-*'))):
    result[os.path.basename(folder)] = len(os.listdir(folder))
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--input_dir', required=True)
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args()
  properties = _exec_properties(args.input_dir)
  load_start = os.getloadavg()[0]
  seconds = collections.defaultdict(list)
  for _ in range(args.repeats):
    fingerprints, files = {}, {}
    for name, executor_class in (
      ('TFX', tfx_executor.Executor),
      ('ours', import_example_gen.Executor),
    ):
      with tempfile.TemporaryDirectory() as tmp:
        elapsed, output = _run_executor(
          executor_class, properties, tmp, args.workers
        )
        seconds[name].append(elapsed)
        fingerprints[name] = _fingerprint(output)
        files[name] = _files(output)
    if fingerprints['TFX'] != fingerprints['ours']:
      raise SystemExit(f'outputs differ: {fingerprints}')
    with tempfile.TemporaryDirectory() as tmp:
      examples, elapsed = _bare_loop(args.input_dir, properties, tmp)
      seconds['bare'].append(elapsed)
  rates = {name: examples / statistics.median(s) for name, s in seconds.items()}
  print(
    f'\n{examples:,} examples ({args.input_dir}), {args.workers} workers, '
    f'{args.repeats} alternating runs each (median), load '
    f'{load_start:.2f} -> {os.getloadavg()[0]:.2f}; outputs equal: '
    f'{fingerprints["ours"]}; files per split: {files}'
  )
  print('| run | seconds (each) | examples/s | ratio to the bare loop |')
  print('|---|---|---|---|')
  for name, label in (
    ('bare', 'bare loop: gzip, parse, assign, write (one process)'),
    ('TFX', f"TFX's ImportExampleGen executor ({args.workers} workers)"),
    ('ours', f'our executor ({args.workers} workers)'),
  ):
    print(
      f'| {label} | {", ".join(f"{s:.1f}" for s in seconds[name])} | '
      f'{rates[name]:,.0f} | {rates[name] / rates["bare"]:.2f} |'
    )


if __name__ == '__main__':
  main()
