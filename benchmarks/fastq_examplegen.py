"""FastqExampleGen throughput: the Beam executor versus a bare counting loop.

On one simulated paired-end FASTQ dataset (the demo scenario, gzip files,
one R1/R2 pair per pool), in one process run:

  * baseline: a single-process plain Python loop that opens every pair of
    files with gzip.open, reads four lines at a time from each, and counts
    the 40-nt window right after the forward primer (fixed offset) in a
    collections.Counter; no quality control at all;
  * QC loop (for reference): the same files through
    records.read_pair_batches and read_qc.classify_pairs in this process,
    i.e. the executor's per-read work without Beam;
  * beam: the FastqExampleGen executor (Executor(context).Do, as the tests
    call it) on the DirectRunner, multi_processing with --workers workers:
    parse, QC every pair (primers, lengths, consensus, quality), count,
    cluster, write the split tf.Examples; worker start-up included.

Each size of --pairs is one row. Beam also runs on a small dataset
(--small_pairs); with it, each size's run splits into a fixed cost
(pipeline and worker start-up: every worker imports TFX) and a marginal
rate. A lab's run has millions of pairs per pool, so the fixed cost
matters less there than at the demo's size: the default sizes are the
demo's half a million and ten times that. Reports read pairs/s of each,
the ratio beam/baseline (target >= 1), and the peak resident memory of
this process and of its largest child (the Beam workers). Other jobs share
the machine: compare the ratios, which come from one run, and note the
load average printed.

Usage:
  python benchmarks/fastq_examplegen.py [--pairs 500000 5000000] \
      [--workers 2] [--work_dir /tmp/fastq_bench] [--small_pairs 20000] \
      [--seed 0]
"""

import argparse
import collections
import glob
import gzip
import os
import resource
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
# Beam's worker processes import the executor module too.
os.environ['PYTHONPATH'] = os.pathsep.join(
  p for p in (_ROOT, os.environ.get('PYTHONPATH')) if p
)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from absl import logging  # noqa: E402
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402
from tfx.utils import proto_utils  # noqa: E402

from components.data.fastq import read_qc  # noqa: E402
from components.data.fastq import records  # noqa: E402
from components.data.fastq_example_gen import component  # noqa: E402
from components.data.fastq_example_gen import executor  # noqa: E402
from pipeline import beam_runners  # noqa: E402
from schema import experiment as experiment_lib  # noqa: E402
from simulation import fastq_dataset  # noqa: E402
from simulation import scenarios  # noqa: E402
from simulation import simulator  # noqa: E402

_WINDOW = 40


def _rss_mib(who) -> float:
  return resource.getrusage(who).ru_maxrss / 1024


def _dataset(directory, pairs, num_families, seed):
  """The dataset in `directory` (made unless its experiment exists)."""
  marker = os.path.join(directory, experiment_lib.EXPERIMENT_FILENAME)
  if os.path.exists(marker):
    return directory
  overrides = {'seed': seed}
  if num_families:
    overrides['num_families'] = num_families
  probe = simulator.simulate(scenarios.configure('demo', depth=1, **overrides))
  depth = -(-pairs // len(probe.count_names))
  config = scenarios.configure('demo', depth=depth, **overrides)
  start = time.perf_counter()
  result = simulator.simulate(config)
  fastq_dataset.write_fastq_dataset(result, directory)
  print(
    f'wrote {depth} pairs x {len(result.count_names)} pools to {directory} '
    f'in {time.perf_counter() - start:.0f} s',
    flush=True,
  )
  return directory


def _file_pairs(directory):
  return [
    (r1, r1[: -len('_R1.fastq.gz')] + '_R2.fastq.gz')
    for r1 in sorted(glob.glob(os.path.join(directory, '*_R1.fastq.gz')))
  ]


def _experiment_text(directory):
  with open(os.path.join(directory, experiment_lib.EXPERIMENT_FILENAME)) as f:
    return f.read()


def _baseline(directory, offset):
  """(pairs, seconds): the bare gzip read-and-count loop, no QC."""
  counts = collections.Counter()
  pairs = 0
  start = time.perf_counter()
  for r1, r2 in _file_pairs(directory):
    with gzip.open(r1, 'rt') as f1, gzip.open(r2, 'rt') as f2:
      while True:
        header = f1.readline()
        if not header:
          break
        sequence = f1.readline()
        f1.readline()
        f1.readline()
        for _ in range(4):
          f2.readline()
        counts[sequence[offset : offset + _WINDOW]] += 1
        pairs += 1
  return pairs, time.perf_counter() - start


def _qc_loop(directory, config):
  """(pairs, okay pairs, seconds): parse + QC in this process."""
  counts = collections.Counter()
  pairs = 0
  start = time.perf_counter()
  for r1, r2 in _file_pairs(directory):
    if not hasattr(read_qc, 'classify_pairs'):
      # A checkout without the batch functions: the per-pair ones.
      for a, b in records.read_pairs(r1, r2):
        _, region = read_qc.classify_pair(
          a.sequence, a.quality, b.sequence, b.quality, config
        )
        counts.update([region] if region else [])
        pairs += 1
      continue
    for batch1, batch2 in records.read_pair_batches(r1, r2):
      _, regions = read_qc.classify_pairs(
        batch1.sequences,
        batch1.qualities,
        batch2.sequences,
        batch2.qualities,
        config,
      )
      counts.update(filter(None, regions))
      pairs += len(regions)
  return pairs, sum(counts.values()), time.perf_counter() - start


def _beam(directory, out_root, workers):
  """(pairs read, okay pairs, seconds) of one executor run."""
  gen = component.fastq_example_gen(directory, _experiment_text(directory))
  exec_properties = {
    k: proto_utils.proto_to_json(v) if hasattr(v, 'DESCRIPTOR') else v
    for k, v in gen.exec_properties.items()
  }
  output = standard_artifacts.Examples()
  output.uri = os.path.join(out_root, 'examples')
  args = beam_runners.with_local_dependencies(
    beam_runners.beam_pipeline_args(
      'multi_processing', direct_num_workers=workers
    )
  )
  start = time.perf_counter()
  context = base_beam_executor.BaseBeamExecutor.Context(
    beam_pipeline_args=args, tmp_dir=os.path.join(out_root, 'tmp')
  )
  executor.Executor(context).Do({}, {'examples': [output]}, exec_properties)
  seconds = time.perf_counter() - start
  total = executor.read_statistics(output.uri)['total']
  return total['total'], total[read_qc.Fate.OKAY.value], seconds


def _measure(directory, small_beam, workers, scratch):
  """One table row: the loops and the executor on one dataset."""
  experiment = experiment_lib.parse_experiment(_experiment_text(directory))
  config = read_qc.ReadQcConfig(
    experiment.forward_primer,
    experiment.reverse_primer,
    int(experiment.sequence_length),
  )
  pairs, base_s = _baseline(directory, len(experiment.forward_primer))
  print(f'baseline: {pairs} pairs in {base_s:.1f} s', flush=True)
  qc_pairs, qc_okay, qc_s = _qc_loop(directory, config)
  print(f'QC loop: {qc_pairs} pairs in {qc_s:.1f} s', flush=True)
  beam_pairs, beam_okay, beam_s = _beam(
    directory, os.path.join(scratch, f'beam_{pairs}'), workers
  )
  print(f'beam: {beam_pairs} pairs in {beam_s:.1f} s', flush=True)
  assert beam_pairs == pairs == qc_pairs, (beam_pairs, pairs, qc_pairs)
  assert beam_okay == qc_okay, (beam_okay, qc_okay)
  small_pairs, small_s = small_beam
  base_rate = pairs / base_s
  beam_rate = pairs / beam_s
  marginal_rate = (pairs - small_pairs) / (beam_s - small_s)
  fixed_s = beam_s - pairs / marginal_rate
  return {
    'read pairs': f'{pairs:,}',
    'okay pairs': f'{beam_okay:,}',
    'workers': workers,
    'baseline pairs/s': f'{base_rate:,.0f}',
    'QC loop pairs/s': f'{pairs / qc_s:,.0f}',
    'beam s': f'{beam_s:.1f}',
    'beam pairs/s': f'{beam_rate:,.0f}',
    'beam/baseline': f'**{beam_rate / base_rate:.2f}**',
    'fixed s': f'{fixed_s:.1f}',
    'marginal pairs/s': f'{marginal_rate:,.0f}',
    'marginal/baseline': f'{marginal_rate / base_rate:.2f}',
    'load (1 min)': f'{os.getloadavg()[0]:.2f}',
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--pairs',
    type=int,
    nargs='+',
    default=[500_000, 5_000_000],
    help='Dataset sizes (read pairs), one table row each.',
  )
  parser.add_argument(
    '--small_pairs',
    type=int,
    default=20_000,
    help='Size of the Beam run that separates the fixed cost.',
  )
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument(
    '--num_families', type=int, default=0, help='0: the demo default.'
  )
  parser.add_argument(
    '--work_dir',
    default='',
    help='Keeps (and reuses) the simulated datasets here.',
  )
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  logging.set_verbosity(logging.WARNING)

  print(f'cpus: {os.cpu_count()}, load average before: {os.getloadavg()}')
  rows = []
  with tempfile.TemporaryDirectory() as scratch:
    work = args.work_dir or scratch

    def dataset(pairs):
      return _dataset(
        os.path.join(work, f'pairs_{pairs}'),
        pairs,
        args.num_families,
        args.seed,
      )

    small_pairs, _, small_s = _beam(
      dataset(args.small_pairs), os.path.join(scratch, 'small'), args.workers
    )
    print(f'beam (small): {small_pairs} pairs in {small_s:.1f} s', flush=True)
    for pairs in args.pairs:
      rows.append(
        _measure(
          dataset(pairs),
          (small_pairs, small_s),
          args.workers,
          scratch,
        )
      )
  rows[-1]['peak RSS MiB (self / largest child)'] = (
    f'{_rss_mib(resource.RUSAGE_SELF):.0f} / '
    f'{_rss_mib(resource.RUSAGE_CHILDREN):.0f}'
  )
  columns = list(rows[-1])
  print()
  print('| ' + ' | '.join(columns) + ' |')
  print('|' + '---|' * len(columns))
  for row in rows:
    print('| ' + ' | '.join(str(row.get(c, '')) for c in columns) + ' |')
  print(
    '\nCommand: python benchmarks/fastq_examplegen.py ' + ' '.join(sys.argv[1:])
  )


if __name__ == '__main__':
  main()
