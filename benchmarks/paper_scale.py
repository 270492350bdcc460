"""The whole pipeline at paper scale: seconds and memory per component.

For each dataset size (observed sequences, the examples a dataset holds),
simulates the demo scenario at that size (sized as
`benchmarks/simulator_scale.py` does; reused when already there), then runs
the manuscript's configuration end to end in a fresh run directory:

  python -m pipeline.local_runner --input_dir DATA --preset=counts
      --beam_mode=multi_processing --beam_num_workers=2 --noenable_cache

(structure features, Transform, 50 epochs of 200,000 examples of the Counts
model with per-epoch reports, evaluation, blessing, push; the Designer is
left out, it is not part of the issue's pipeline). While it runs, a sampler
sums the resident memory of the runner's whole process tree (Beam's worker
processes included) twice a second. Afterwards, per component, from ML
Metadata: wall seconds (the execution's registration to its publication),
the peak of the process-tree memory in that window, and rows per second
(observed sequences for the data components, trained examples
epochs x epoch_size for the Trainer, test-split examples for the
Evaluator). The machine's load average is printed at the start and the end.

Results go to `<work_dir>/paper_scale.json` and as a Markdown table to
stdout (for benchmarks/RESULTS.md).

Usage:
  python benchmarks/paper_scale.py [--sizes 100000,300000,1000000] \
      [--work_dir /tmp/paper_scale] [--workers 2] [--seed 20210422] \
      [-- extra local_runner flags, e.g. --epochs=1 for a smoke run]
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from typing import Dict
from typing import List
from typing import Sequence
from typing import Tuple

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psutil  # noqa: E402
import simulator_scale  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.config import keys  # noqa: E402
from pipeline import configs  # noqa: E402
from tools import run_artifacts  # noqa: E402

SAMPLE_INTERVAL_S = 0.5
_EPOCH_LINE = re.compile(r'\d+/\d+ - (\d+(?:\.\d+)?)(m?s) - ')
_GIB = 2**30
# Components whose rows are the dataset's observed sequences.
_DATA_COMPONENTS = (
  'ImportExampleGen',
  'StatisticsGen',
  'SchemaGen',
  'StructureFeatures',
  'DataContractCheck',
  'Transform',
)


class TreeMemorySampler:
  """Samples the summed RSS of a process and all its descendants.

  Args:
    pid: the root process.
    interval_s: seconds between samples.
  """

  def __init__(self, pid: int, interval_s: float = SAMPLE_INTERVAL_S):
    self._root = psutil.Process(pid)
    self._interval_s = interval_s
    self._stop = threading.Event()
    # (unix seconds, tree bytes, largest process bytes)
    self.samples: List[Tuple[float, int, int]] = []
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _rss(self) -> Tuple[int, int]:
    """(summed RSS of the tree, RSS of its largest process) in bytes."""
    sizes = []
    try:
      processes = [self._root] + self._root.children(recursive=True)
    except psutil.NoSuchProcess:
      return 0, 0
    for process in processes:
      try:
        sizes.append(process.memory_info().rss)
      except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass  # A worker that exited between listing and reading.
    return sum(sizes), max(sizes, default=0)

  def _run(self):
    while not self._stop.is_set():
      self.samples.append((time.time(), *self._rss()))
      self._stop.wait(self._interval_s)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()

  def peak(self, start: float = 0.0, end: float = float('inf'), largest=False):
    """The peak between `start` and `end` (unix s); None: no sample.

    Args:
      start: window start.
      end: window end.
      largest: the peak of the largest single process instead of the tree.
    """
    inside = [
      one if largest else tree
      for t, tree, one in self.samples
      if start <= t <= end
    ]
    return max(inside, default=None)


def _gib(num_bytes):
  return None if num_bytes is None else round(num_bytes / _GIB, 2)


def component_windows(metadata_path: str) -> Dict[str, Tuple[float, float]]:
  """Node id -> (start, end) unix seconds of its newest execution."""
  store = run_artifacts.open_store(metadata_path)
  prefix = configs.PIPELINE_NAME + '.'
  windows = {}
  for context in store.get_contexts_by_type(run_artifacts.NODE_CONTEXT_TYPE):
    if not context.name.startswith(prefix):
      continue
    executions = store.get_executions_by_context(context.id)
    if not executions:
      continue
    newest = max(executions, key=lambda e: (e.create_time_since_epoch, e.id))
    windows[context.name[len(prefix) :]] = (
      newest.create_time_since_epoch / 1000.0,
      newest.last_update_time_since_epoch / 1000.0,
    )
  return dict(sorted(windows.items(), key=lambda item: item[1][0]))


def split_examples(metadata_path: str, split: str) -> int:
  """Examples in one split of the run's ExampleGen output."""
  examples = run_artifacts.latest_output(
    metadata_path, configs.PIPELINE_NAME, 'ImportExampleGen', 'examples'
  )
  files = glob.glob(os.path.join(examples.uri, f'Split-{split}', '*'))
  return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type='GZIP'))


def blessed(metadata_path: str) -> bool:
  """Whether the run's Evaluator blessed the model."""
  blessing = run_artifacts.latest_output(
    metadata_path, configs.PIPELINE_NAME, 'Evaluator', 'blessing'
  )
  return blessing is not None and (
    blessing.custom_properties['blessed'].int_value == 1
  )


def flag_value(flags: Sequence[str], name: str, default):
  """The last `--name=value` in `flags`, as the type of `default`."""
  value = default
  for flag in flags:
    if flag.startswith(f'--{name}='):
      value = type(default)(float(flag.split('=', 1)[1]))
  return value


def simulate(size: int, seed: int, work_dir: str) -> Tuple[str, int]:
  """(dataset directory, observed sequences) for a target size."""
  families, depth = simulator_scale.size_for(size)
  out = os.path.join(work_dir, f'data_{families}_{depth}_{seed}')
  summary = os.path.join(out, 'benchmark_observed.txt')
  if os.path.exists(summary):
    with open(summary) as f:
      return out, int(f.read())
  print(f'simulating {families} families at depth {depth} ...', flush=True)
  result = subprocess.run(
    simulator_scale.simulator_command(out, families, depth, seed),
    cwd=_ROOT,
    capture_output=True,
    text=True,
  )
  if result.returncode:
    raise SystemExit(f'simulation failed:\n{result.stdout}{result.stderr}')
  observed = int(re.search(r'wrote (\d+) examples', result.stdout).group(1))
  with open(summary, 'w') as f:
    f.write(str(observed))
  return out, observed


def run_pipeline(
  data_dir: str, run_dir: str, workers: int, extra_flags: Sequence[str]
) -> Tuple[float, TreeMemorySampler, List[float]]:
  """(seconds, memory sampler, Keras seconds per epoch) of one run.

  Echoes the run's console as it goes.
  """
  shutil.rmtree(run_dir, ignore_errors=True)
  command = [
    sys.executable,
    '-m',
    'pipeline.local_runner',
    f'--input_dir={data_dir}',
    f'--save_base={os.path.dirname(run_dir)}',
    f'--run_name={os.path.basename(run_dir)}',
    '--preset=counts',
    '--beam_mode=multi_processing',
    f'--beam_num_workers={workers}',
    '--nodesign',
    '--noenable_cache',
    *extra_flags,
  ]
  print(' '.join(command), flush=True)
  start = time.time()
  child = subprocess.Popen(
    command,
    cwd=_ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )
  epoch_seconds = []
  with TreeMemorySampler(child.pid) as sampler:
    for line in child.stdout:
      print('  | ' + line, end='', flush=True)
      # Keras's line per epoch: `3125/3125 - 50s - 16ms/step - loss: ...`;
      # its seconds include the callbacks' per-epoch report.
      match = _EPOCH_LINE.match(line)
      if match:
        scale = 1e-3 if match.group(2) == 'ms' else 1.0
        epoch_seconds.append(float(match.group(1)) * scale)
    child.wait()
  seconds = time.time() - start
  if child.returncode:
    raise SystemExit(f'the pipeline failed (exit {child.returncode})')
  return seconds, sampler, epoch_seconds


def measure(
  size: int, seed: int, work_dir: str, workers: int, extra_flags: Sequence[str]
) -> Dict:
  """One size: simulate (or reuse), run, and read the per-component costs."""
  data_dir, observed = simulate(size, seed, work_dir)
  run_dir = os.path.join(work_dir, 'runs', f'observed_{observed}')
  load_start = os.getloadavg()[0]
  seconds, sampler, epoch_seconds = run_pipeline(
    data_dir, run_dir, workers, extra_flags
  )
  load_end = os.getloadavg()[0]
  metadata_path = os.path.join(run_dir, 'metadata.db')
  preset = configs.PRESETS['counts']
  trained = flag_value(extra_flags, 'epochs', preset['epochs']) * flag_value(
    extra_flags, 'epoch_size', preset['epoch_size']
  )
  test_examples = split_examples(metadata_path, keys.TEST_SPLIT)
  components = []
  for node, (start, end) in component_windows(metadata_path).items():
    rows = None
    if node in _DATA_COMPONENTS:
      rows = observed
    elif node.startswith('Trainer'):
      rows = trained
    elif node == 'Evaluator':
      rows = test_examples
    wall = end - start
    components.append(
      {
        'component': node,
        'seconds': round(wall, 1),
        'peak_rss_gib': _gib(sampler.peak(start, end)),
        'largest_process_gib': _gib(sampler.peak(start, end, largest=True)),
        'rows': rows,
        'rows_per_s': round(rows / wall) if rows and wall > 0 else None,
      }
    )
  return {
    'observed_sequences': observed,
    'test_examples': test_examples,
    'extra_flags': list(extra_flags),
    'seconds': round(seconds, 1),
    'peak_rss_gib': _gib(sampler.peak()),
    'blessed': blessed(metadata_path),
    'load_start': load_start,
    'load_end': load_end,
    'trainer_epoch_seconds': epoch_seconds,
    'components': components,
  }


def _epochs_summary(seconds: List[float]) -> str:
  if not seconds:
    return 'not seen'
  median = sorted(seconds)[len(seconds) // 2]
  return f'{len(seconds)}, median {median:.0f} s each'


def markdown(results: List[Dict]) -> str:
  """The RESULTS.md tables: one per size, and the end-to-end summary."""
  out = [
    '| observed sequences | end to end s | peak RSS GiB | blessed | load '
    'start -> end |',
    '|---|---|---|---|---|',
  ]
  for r in results:
    out.append(
      f'| {r["observed_sequences"]:,} | {r["seconds"]:,.0f} | '
      f'{r["peak_rss_gib"]:.2f} | {"yes" if r["blessed"] else "no"} | '
      f'{r["load_start"]:.2f} -> {r["load_end"]:.2f} |'
    )
  for r in results:
    out += [
      '',
      f'{r["observed_sequences"]:,} observed sequences '
      f'({r["test_examples"]:,} test examples; Trainer epochs '
      f'{_epochs_summary(r["trainer_epoch_seconds"])}):',
      '',
      '| component | seconds | peak RSS GiB (tree) | largest process GiB '
      '| rows | rows/s |',
      '|---|---|---|---|---|---|',
    ]
    for c in r['components']:
      rows = '-' if c['rows'] is None else f'{c["rows"]:,}'
      rate = '-' if c['rows_per_s'] is None else f'{c["rows_per_s"]:,}'
      tree, largest = (
        '-' if c[key] is None else f'{c[key]:.2f}'
        for key in ('peak_rss_gib', 'largest_process_gib')
      )
      out.append(
        f'| {c["component"]} | {c["seconds"]:,.1f} | {tree} | {largest} | '
        f'{rows} | {rate} |'
      )
  return '\n'.join(out)


def main(argv=None):
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument('--sizes', default='100000,300000,1000000')
  parser.add_argument('--work_dir', default='/tmp/paper_scale')
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--seed', type=int, default=20210422)
  args, extra_flags = parser.parse_known_args(argv)
  extra_flags = [f for f in extra_flags if f != '--']
  os.makedirs(args.work_dir, exist_ok=True)
  print(f'load average at start: {os.getloadavg()}', flush=True)
  results = []
  for size in (int(float(s)) for s in args.sizes.split(',')):
    results.append(
      measure(size, args.seed, args.work_dir, args.workers, extra_flags)
    )
    with open(os.path.join(args.work_dir, 'paper_scale.json'), 'w') as f:
      json.dump(results, f, indent=2)
    print(markdown(results[-1:]), flush=True)
  print(f'\nload average at end: {os.getloadavg()}\n')
  print(markdown(results))


if __name__ == '__main__':
  main()
