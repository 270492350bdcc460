"""Sequence scoring throughput: Beam scoring and ML seeds versus bare calls.

Three measurements, each in a fresh Python process (TensorFlow's thread
settings are per process, and each part's peak memory is its own):

  * bare: the SavedModel's `serve_sequences` signature called on in-memory
    batches of random sequences (tf.constant built beforehand), one process
    with --bare_threads TensorFlow threads (1 by default: one core, like
    each Beam worker);
  * beam: `scoring.ScoreSequences` over the same sequences (beam.Create), on
    the DirectRunner with --direct_running_mode=multi_processing and
    --direct_num_workers=N (--worker_threads TensorFlow threads each),
    counting the row dicts it yields; worker start-up and model loading
    included. A second run on --small_count sequences splits the time into
    a fixed cost and a marginal rate. Target: beam rate >= 0.8 x N x bare
    rate (`beam/target` >= 1);
  * ml seeds: `seeds.ml_seeds` scoring --seed_sequences random 40-mers in
    batches of 10,000 with the bare signature (TensorFlow's default threads,
    calls of --call_size), keeping the top 2,000 by `affinity_<molecule>`.
    Target: <= 5 minutes for 10^7. Peak RSS: the process's and its
    children's (resource.getrusage), in MiB.

Usage:
  python benchmarks/scoring_throughput.py --model DIR \
      [--num_sequences 200000] [--small_count 20000] [--workers 2] \
      [--seed_sequences 10000000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
# Beam's worker processes import the scoring module too.
os.environ['PYTHONPATH'] = os.pathsep.join(
  p for p in (_ROOT, os.environ.get('PYTHONPATH')) if p
)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402

_DEFAULT_MODEL = os.path.join(
  _ROOT, 'output', 'demo', 'serving_model', '1796150693'
)
_LENGTH = 40
_BARE_BATCH = 4096


def _sequences(count, seed):
  rng = np.random.default_rng(seed)
  codes = rng.integers(0, 4, size=(count, _LENGTH), dtype=np.uint8)
  letters = np.frombuffer(b'ACGT', np.uint8)[codes]
  text = letters.tobytes().decode('ascii')
  return [text[i : i + _LENGTH] for i in range(0, len(text), _LENGTH)]


def _peak_rss_mib():
  own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
  return (own + children) / 1024  # Linux reports KiB.


def _set_threads(threads):
  import tensorflow as tf

  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  return tf


def _bare(args):
  tf = _set_threads(args.bare_threads)
  signature = tf.saved_model.load(args.model).signatures['serve_sequences']
  sequences = _sequences(args.num_sequences, args.seed)
  batches = [
    tf.constant(sequences[i : i + _BARE_BATCH])
    for i in range(0, len(sequences), _BARE_BATCH)
  ]
  signature(sequences=batches[0])  # Traces and warms up.
  start = time.perf_counter()
  for batch in batches:
    signature(sequences=batch)
  return {'seconds': time.perf_counter() - start}


def _beam_run(args, count):
  import apache_beam as beam

  from components.design import scoring

  sequences = _sequences(count, args.seed)
  options = [
    '--direct_running_mode=multi_processing',
    f'--direct_num_workers={args.workers}',
  ]
  start = time.perf_counter()
  with beam.Pipeline(argv=options) as pipeline:
    _ = (
      pipeline
      | 'Sequences' >> beam.Create(sequences)
      | 'Score'
      >> scoring.ScoreSequences(
        [args.model], threads_per_worker=args.worker_threads
      )
      | 'Count' >> beam.combiners.Count.Globally()
      | 'Check' >> beam.Map(_check_count, count)
    )
  return time.perf_counter() - start


def _check_count(found, expected):
  if found != expected:
    raise AssertionError(f'{found} rows scored, expected {expected}')


def _beam(args):
  return {
    'seconds': _beam_run(args, args.num_sequences),
    'small_seconds': _beam_run(args, args.small_count),
  }


def _seeds(args):
  tf = _set_threads(0)

  from components.design import seeds

  signature = tf.saved_model.load(args.model).signatures['serve_sequences']
  output = f'affinity_{args.molecule}'

  def score(batch):
    parts = []
    for i in range(0, len(batch), args.call_size):
      result = signature(sequences=tf.constant(batch[i : i + args.call_size]))
      parts.append(result[output].numpy())
    return np.concatenate(parts)

  score(_sequences(args.call_size, args.seed))  # Traces and warms up.
  start = time.perf_counter()
  best, scores = seeds.ml_seeds(
    score,
    _LENGTH,
    args.seed_sequences,
    keep=args.keep,
    batch_size=10_000,
    random_seed=args.seed,
  )
  seconds = time.perf_counter() - start
  return {
    'seconds': seconds,
    'kept': len(best),
    'best': float(scores[0]),
    'peak_rss_mib': _peak_rss_mib(),
  }


_PARTS = {'bare': _bare, 'beam': _beam, 'seeds': _seeds}


def _run_part(part, argv):
  """Runs one part in a fresh process; returns its JSON result."""
  command = [sys.executable, os.path.abspath(__file__), '--part', part, *argv]
  completed = subprocess.run(
    command, check=True, stdout=subprocess.PIPE, text=True
  )
  return json.loads(completed.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default=_DEFAULT_MODEL)
  parser.add_argument('--num_sequences', type=int, default=200_000)
  parser.add_argument('--small_count', type=int, default=20_000)
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--bare_threads', type=int, default=1)
  parser.add_argument('--worker_threads', type=int, default=1)
  parser.add_argument('--seed_sequences', type=int, default=10_000_000)
  parser.add_argument('--keep', type=int, default=2000)
  parser.add_argument('--call_size', type=int, default=5000)
  parser.add_argument('--molecule', default='target')
  parser.add_argument('--parts', nargs='+', default=list(_PARTS))
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--part', choices=list(_PARTS), help=argparse.SUPPRESS)
  args, _ = parser.parse_known_args()
  if args.part:
    print(json.dumps(_PARTS[args.part](args)))
    return
  if args.num_sequences <= args.small_count:
    parser.error('--num_sequences must exceed --small_count')
  argv = sys.argv[1:]  # Each part parses the same flags.

  print(f'cpus: {os.cpu_count()}, load average before: {os.getloadavg()}')
  results = {}
  for part in args.parts:
    results[part] = _run_part(part, argv)
    print(f'{part}: {results[part]}; load: {os.getloadavg()}', flush=True)

  n = args.num_sequences
  print()
  if 'bare' in results and 'beam' in results:
    bare_rate = n / results['bare']['seconds']
    beam = results['beam']
    beam_rate = n / beam['seconds']
    marginal = (n - args.small_count) / (
      beam['seconds'] - beam['small_seconds']
    )
    target = 0.8 * args.workers * bare_rate
    row = {
      'sequences': n,
      f'bare seq/s ({args.bare_threads} thread)': f'{bare_rate:.0f}',
      'beam s': f'{beam["seconds"]:.1f}',
      'beam seq/s': f'{beam_rate:.0f}',
      f'beam/({args.workers} x bare)': f'{beam_rate / (2 * bare_rate):.2f}',
      'beam/target': f'**{beam_rate / target:.2f}**',
      'fixed s': f'{beam["seconds"] - n / marginal:.1f}',
      'marginal seq/s': f'{marginal:.0f}',
      'marginal/target': f'{marginal / target:.2f}',
    }
    print('| ' + ' | '.join(row) + ' |')
    print('|' + '---|' * len(row))
    print('| ' + ' | '.join(str(v) for v in row.values()) + ' |')
    print()
  if 'seeds' in results:
    seeds = results['seeds']
    row = {
      'random 40-mers': args.seed_sequences,
      'kept': seeds['kept'],
      'wall s': f'{seeds["seconds"]:.1f}',
      'seq/s': f'{args.seed_sequences / seeds["seconds"]:.0f}',
      'projected s for 10^7': f'{1e7 * seeds["seconds"] / args.seed_sequences:.0f}',
      'peak RSS MiB': f'{seeds["peak_rss_mib"]:.0f}',
    }
    print('| ' + ' | '.join(row) + ' |')
    print('|' + '---|' * len(row))
    print('| ' + ' | '.join(str(v) for v in row.values()) + ' |')
  print(f'\nload average after: {os.getloadavg()}')
  print(
    'command: '
    + ' '.join(
      [os.path.relpath(sys.executable, _ROOT)]
      + [os.path.relpath(__file__, _ROOT)]
      + sys.argv[1:]
    )
  )


if __name__ == '__main__':
  main()
