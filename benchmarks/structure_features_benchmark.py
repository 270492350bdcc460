"""StructureFeatures throughput: Beam executor versus a bare ViennaRNA loop.

For each sequence length, in one process run:

  * baseline: a single-process Python loop of plain ViennaRNA calls (DNA
    parameters: mfe, pf, probability of the MFE structure, mean base-pair
    distance; with --features, only the calls those features need) over
    the sequences;
  * beam: the StructureFeatures executor on the same sequences stored as an
    Examples artifact (gzip TFRecords of tf.Example, 4 files), on the
    DirectRunner with --direct_running_mode=multi_processing and
    --direct_num_workers=N: read, deduplicate, fold, join back and write,
    start-up of the workers included, no cache.

Reports sequences/second of both and the ratio of the Beam rate to the
target 0.8 x N x baseline rate (>= 1 meets the target). The sequences are
random, so all are unique. The loop's rate does not depend on how many
sequences it folds, so it folds at most --loop_count of them (a tenth of
that for sequences over 50 nt) to keep the run short. Beam runs a second
time on --small_count of the sequences; the two runs split its time into a
fixed cost (executor construction, worker start-up, pipeline set-up) and a
marginal rate per sequence, reported next to the end-to-end rate.

--features computes a choice of the five features (the executor's
`features`), as a run does for the features its model reads: e.g.
`--features partition_function`, the manuscript preset's.

Usage:
  python benchmarks/structure_features_benchmark.py \
      [--lengths 40 40 100] [--counts 20000 200000 10000] [--workers 2] \
      [--features mfe,partition_function]
"""

import argparse
import os
import random
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
import RNA  # noqa: E402
import tensorflow as tf  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.types import artifact_utils  # noqa: E402

from components.features.structure import executor  # noqa: E402
from components.features.structure import folding  # noqa: E402
from pipeline import beam_runners  # noqa: E402

_FILES = 4


def _sequences(length, count, seed):
  rng = random.Random(seed)
  return [''.join(rng.choices('ACGT', k=length)) for _ in range(count)]


def _baseline(sequences, features):
  """Plain ViennaRNA calls in one process; returns the elapsed seconds.

  Only the calls `features` need: the MFE fold for mfe and the MFE
  structure's probability, the partition function for all but mfe, the
  base-pair probabilities for the ensemble diversity.
  """
  RNA.params_load_DNA_Mathews2004()
  mfe_fold = bool({'mfe', 'boltzmann_probability'} & set(features))
  partition = bool(set(features) - {'mfe'})
  probability = 'boltzmann_probability' in features
  diversity = 'ensemble_diversity' in features
  start = time.perf_counter()
  for sequence in sequences:
    md = RNA.md()
    md.compute_bpp = int(diversity)
    fc = RNA.fold_compound(sequence, md)
    if mfe_fold:
      structure, mfe = fc.mfe()
      fc.exp_params_rescale(mfe)
    if partition:
      fc.pf()
    if probability:
      fc.pr_structure(structure)
    if diversity:
      fc.mean_bp_distance()
  return time.perf_counter() - start


def _examples_artifact(root, sequences):
  artifact = tfx.types.standard_artifacts.Examples()
  artifact.uri = os.path.join(root, 'input')
  artifact.split_names = artifact_utils.encode_split_names(['train'])
  directory = os.path.join(artifact.uri, 'Split-train')
  os.makedirs(directory)
  for shard in range(_FILES):
    path = os.path.join(directory, f'data_tfrecord-{shard:05d}.gz')
    with tf.io.TFRecordWriter(path, 'GZIP') as writer:
      for i in range(shard, len(sequences), _FILES):
        feature = {
          'sequence': tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[sequences[i].encode()])
          ),
          'count': tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        writer.write(example.SerializeToString())
  return artifact


def _beam(root, sequences, workers, features):
  """Runs the executor; returns (elapsed seconds, folded count)."""
  source = _examples_artifact(root, sequences)
  output = tfx.types.standard_artifacts.Examples()
  output.uri = os.path.join(root, 'output')
  context = base_beam_executor.BaseBeamExecutor.Context(
    beam_pipeline_args=beam_runners.with_local_dependencies(
      [
        '--direct_running_mode=multi_processing',
        f'--direct_num_workers={workers}',
      ]
    ),
    tmp_dir=os.path.join(root, 'tmp'),
  )
  start = time.perf_counter()
  executor.Executor(context).Do(
    {executor.EXAMPLES_KEY: [source]},
    {executor.AUGMENTED_EXAMPLES_KEY: [output]},
    {
      **executor.DEFAULT_EXEC_PROPERTIES,
      executor.FEATURES_KEY: ','.join(features),
    },
  )
  elapsed = time.perf_counter() - start
  return elapsed, output.get_int_custom_property('folded')


def _row(length, count, loop_count, small_count, workers, seed, features):
  """Measures one (length, count); returns the table's values."""
  sequences = _sequences(length, count, seed + length)
  loop_n = min(count, loop_count)
  loop_rate = loop_n / _baseline(sequences[:loop_n], features)
  with tempfile.TemporaryDirectory() as root:
    beam_s, folded = _beam(root, sequences, workers, features)
  assert folded == count, (folded, count)
  with tempfile.TemporaryDirectory() as root:
    small_s, folded = _beam(root, sequences[:small_count], workers, features)
  assert folded == small_count, (folded, small_count)
  target = 0.8 * workers * loop_rate
  beam_rate = count / beam_s
  # Two sizes split the run time into a fixed cost and a rate per sequence.
  marginal_rate = (count - small_count) / (beam_s - small_s)
  fixed_s = beam_s - count / marginal_rate
  return {
    'features': 'all five' if len(features) == 5 else ', '.join(features),
    'length': length,
    'sequences': count,
    'loop seq/s': f'{loop_rate:.0f}',
    'beam s': f'{beam_s:.1f}',
    'beam seq/s': f'{beam_rate:.0f}',
    'beam/target': f'**{beam_rate / target:.2f}**',
    'fixed s': f'{fixed_s:.1f}',
    'marginal seq/s': f'{marginal_rate:.0f}',
    'marginal/target': f'{marginal_rate / target:.2f}',
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--lengths', type=int, nargs='+', default=[40, 40, 100])
  parser.add_argument(
    '--counts', type=int, nargs='+', default=[20000, 200000, 10000]
  )
  parser.add_argument(
    '--loop_count',
    type=int,
    default=20000,
    help='The loop folds at most this many of the sequences.',
  )
  parser.add_argument(
    '--small_count',
    type=int,
    default=2000,
    help='Size of the second Beam run that separates the fixed cost.',
  )
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument(
    '--features',
    default=','.join(folding.FEATURES),
    help='Comma-separated features to compute (default: all five).',
  )
  args = parser.parse_args()
  features = executor.features_of(args.features)
  try:
    folding.FoldingParameters(features=features)
  except folding.FoldingError as e:
    parser.error(f'--features: {e}')
  if len(args.lengths) != len(args.counts):
    parser.error('--lengths and --counts need the same number of values')
  if min(args.counts) <= args.small_count:
    parser.error('every --counts value must exceed --small_count')
  logging.set_verbosity(logging.WARNING)

  print(f'cpus: {os.cpu_count()}, load average before: {os.getloadavg()}')
  rows = []
  for length, count in zip(args.lengths, args.counts):
    loop_count = args.loop_count if length <= 50 else args.loop_count // 10
    rows.append(
      _row(
        length,
        count,
        loop_count,
        args.small_count,
        args.workers,
        args.seed,
        features,
      )
    )
    print(
      f'{count} {length}-mers done; load average: {os.getloadavg()}',
      flush=True,
    )

  print()
  print('| ' + ' | '.join(rows[0]) + ' |')
  print('|' + '---|' * len(rows[0]))
  for row in rows:
    print('| ' + ' | '.join(str(v) for v in row.values()) + ' |')
  print(
    f'\ntarget = 0.8 x {args.workers} workers x loop rate; '
    f'load average after: {os.getloadavg()}'
  )


if __name__ == '__main__':
  main()
