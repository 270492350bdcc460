"""Sequence scoring throughput: Beam scoring and ML seeds versus bare calls.

Three measurements, each in a fresh Python process (TensorFlow's thread
settings are per process, and each part's peak memory is its own):

  * bare: the SavedModel's `serve_sequences` signature called on in-memory
    batches of random sequences (tf.constant built beforehand), one process
    with --bare_threads TensorFlow threads (1 by default: one core, like
    each Beam worker);
  * beam: `scoring.ScoreSequences` over the same sequences (beam.Create), on
    the DirectRunner with --direct_running_mode=multi_processing and
    --direct_num_workers=N (--worker_threads TensorFlow threads each; 0:
    ScoreSequences' default, cores // N), counting the scored rows; worker
    start-up and model loading included. Per --beam_modes (`batched`:
    `scoring.write_batches` files, whose paths are created and read by the
    workers into ScoreSequenceBatches, as the component runs; `created`: a
    Create of the `scoring.batches_of` lists themselves, the component's
    path before; `columnar`: a Create of single strings into
    ScoreSequences, one element out per batch; `rows`: the same, one dict
    out per sequence, the old output) it also runs --small_count sequences, to split the time into a
    fixed cost and a marginal rate, and 1 sequence, the start-up cost
    measured directly. Target: beam rate >= 0.8 x N x bare rate
    (`beam/target` >= 1);
  * ml seeds: `seeds.ml_seeds` scoring --seed_sequences random 40-mers in
    batches of 10,000, keeping the top 2,000 by `affinity_<molecule>`, with
    --seed_scorer `scorer` (the Designer's score_fn: SequenceScorer.score on
    a list of str, model calls of --call_size) or `signature` (the bare
    signature), --seed_threads TensorFlow threads (0: TF's default, every
    core). Target: <= 5 minutes for 10^7.

Peak RSS: the part's process plus its largest child (resource.getrusage),
in MiB.

Usage:
  python benchmarks/scoring_throughput.py --model DIR \
      [--num_sequences 200000] [--small_count 20000] [--workers 2] \
      [--beam_modes batched columnar rows] [--seed_sequences 10000000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
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
  """This process's peak RSS plus its largest child's, in MiB."""
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


def _beam_run(args, count, mode):
  import apache_beam as beam

  from components.design import scoring

  sequences = _sequences(count, args.seed)
  options = [
    '--direct_running_mode=multi_processing',
    f'--direct_num_workers={args.workers}',
  ]
  start = time.perf_counter()
  threads = args.worker_threads or None
  with beam.Pipeline(argv=options) as pipeline:
    if mode == 'batched':  # What the ScoreSequences component runs.
      paths = scoring.write_batches(sequences, tempfile.mkdtemp())
      scored = (
        pipeline
        | 'Batches' >> beam.Create(paths)
        | 'Read' >> beam.Map(scoring.read_batch)
        | 'Score'
        >> scoring.ScoreSequenceBatches(
          [args.model], threads_per_worker=threads
        )
      )
    elif mode == 'created':  # The sequences themselves in beam.Create.
      scored = (
        pipeline
        | 'Sequences' >> beam.Create(scoring.batches_of(sequences))
        | 'Score'
        >> scoring.ScoreSequenceBatches(
          [args.model], threads_per_worker=threads
        )
      )
    else:
      scored = (
        pipeline
        | 'Sequences' >> beam.Create(sequences)
        | 'Score'
        >> scoring.ScoreSequences(
          [args.model], threads_per_worker=threads, rows=mode == 'rows'
        )
      )
    if mode != 'rows':
      scored = scored | 'Rows' >> beam.Map(lambda b: len(b['sequence']))
      counted = scored | 'Count' >> beam.CombineGlobally(sum)
    else:
      counted = scored | 'Count' >> beam.combiners.Count.Globally()
    _ = counted | 'Check' >> beam.Map(_check_count, count)
  return time.perf_counter() - start


def _check_count(found, expected):
  if found != expected:
    raise AssertionError(f'{found} rows scored, expected {expected}')


def _beam(args):
  """Seconds for --num_sequences, --small_count and 1 sequence, per mode."""
  out = {}
  for mode in args.beam_modes:
    out[mode] = {
      'seconds': _beam_run(args, args.num_sequences, mode),
      'small_seconds': _beam_run(args, args.small_count, mode),
      'startup_seconds': _beam_run(args, 1, mode),
    }
  out['peak_rss_mib'] = _peak_rss_mib()
  return out


def _seeds(args):
  tf = _set_threads(args.seed_threads)

  from components.design import scoring
  from components.design import seeds

  if args.seed_scorer == 'scorer':
    # What the Designer passes to ml_seeds (designer.design's score_fn).
    scorer = scoring.SequenceScorer([args.model], batch_size=args.call_size)
    column = scoring.mean_column(f'affinity_{args.molecule}')

    def score(batch):
      return np.asarray(scorer.score(list(batch))[column], np.float64)

  else:
    signature = tf.saved_model.load(args.model).signatures['serve_sequences']
    output = f'affinity_{args.molecule}'

    def score(batch):
      parts = []
      for i in range(0, len(batch), args.call_size):
        chunk = tf.constant(batch[i : i + args.call_size])
        parts.append(signature(sequences=chunk)[output].numpy())
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


def _print_table(rows):
  print('| ' + ' | '.join(rows[0]) + ' |')
  print('|' + '---|' * len(rows[0]))
  for row in rows:
    print('| ' + ' | '.join(str(v) for v in row.values()) + ' |')
  print()


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default=_DEFAULT_MODEL)
  parser.add_argument('--num_sequences', type=int, default=200_000)
  parser.add_argument('--small_count', type=int, default=20_000)
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--bare_threads', type=int, default=1)
  # 0: ScoreSequences' default (cores // workers on the DirectRunner).
  parser.add_argument('--worker_threads', type=int, default=0)
  parser.add_argument(
    '--beam_modes',
    nargs='+',
    default=['batched', 'columnar'],
    choices=['batched', 'created', 'columnar', 'rows'],
  )
  parser.add_argument('--seed_sequences', type=int, default=10_000_000)
  parser.add_argument('--keep', type=int, default=2000)
  parser.add_argument('--call_size', type=int, default=4096)
  parser.add_argument('--seed_threads', type=int, default=0)  # 0: TF's.
  parser.add_argument(
    '--seed_scorer', default='scorer', choices=['scorer', 'signature']
  )
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
    target = 0.8 * args.workers * bare_rate
    table = []
    for mode in args.beam_modes:
      beam = results['beam'][mode]
      beam_rate = n / beam['seconds']
      marginal = (n - args.small_count) / (
        beam['seconds'] - beam['small_seconds']
      )
      table.append(
        {
          'beam output': mode,
          'sequences': n,
          f'bare seq/s ({args.bare_threads} thread)': f'{bare_rate:.0f}',
          'beam s': f'{beam["seconds"]:.1f}',
          'beam seq/s': f'{beam_rate:.0f}',
          f'beam/({args.workers} x bare)': (
            f'{beam_rate / (args.workers * bare_rate):.2f}'
          ),
          'beam/target': f'**{beam_rate / target:.2f}**',
          '1-sequence run s': f'{beam["startup_seconds"]:.1f}',
          'fixed s (fit)': f'{beam["seconds"] - n / marginal:.1f}',
          'marginal seq/s': f'{marginal:.0f}',
          f'marginal/({args.workers} x bare)': (
            f'{marginal / (args.workers * bare_rate):.2f}'
          ),
          'peak RSS MiB': f'{results["beam"]["peak_rss_mib"]:.0f}',
        }
      )
    _print_table(table)
  if 'seeds' in results:
    seeds = results['seeds']
    _print_table(
      [
        {
          'random 40-mers': args.seed_sequences,
          'scorer': args.seed_scorer,
          'kept': seeds['kept'],
          'wall s': f'{seeds["seconds"]:.1f}',
          'seq/s': f'{args.seed_sequences / seeds["seconds"]:.0f}',
          'projected s for 10^7': (
            f'{1e7 * seeds["seconds"] / args.seed_sequences:.0f}'
          ),
          'peak RSS MiB': f'{seeds["peak_rss_mib"]:.0f}',
        }
      ]
    )
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
