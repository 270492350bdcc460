"""TFMA combiner memory: what the Evaluator's metrics hold per held-out example.

Rank metrics (AUC of the true top 1 %, Spearman) need every label and
prediction of a slice at once, so `AptamerRankMetrics` and
`AffinityEvidenceMetrics` keep them in their accumulators until
`extract_output`. This measures those accumulators, fed as TFMA feeds them
(one `add_input` per example and slice), against the bare minimum in the
same run: the same values in float64 numpy arrays (8 bytes each).

Sizes: the held-out split of a 1,000,000-sequence run is about 150,000
examples (3 of 20 hash buckets; the 1.15M set of issue 17 had 218,743), so
the default feeds 220,000 examples with the demo's 9 read columns and 2
affinity outputs, once per slice (the pipeline's EvalConfig slices overall
and by two features: each example lands in 3 slices).

Usage: python benchmarks/tfma_combiner_memory.py [--examples 220000]
  [--outputs 9] [--molecules 2] [--slices 3]
"""

import argparse
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from tensorflow_model_analysis import constants  # noqa: E402
from tensorflow_model_analysis.metrics import metric_types  # noqa: E402

from components.evaluation import tfma_affinity_metrics  # noqa: E402
from components.evaluation import tfma_metrics  # noqa: E402
from components.features import binding_evidence  # noqa: E402


def _combiner(metric):
  [computation] = metric.computations(eval_config=None, model_names=[''])
  return computation.combiner


def _inputs(count, outputs, molecules, rng):
  """StandardMetricInputs as TFMA builds them: one-value arrays per key."""
  affinity = {f'affinity_{m}': m for m in molecules}
  for _ in range(count):
    values = rng.random(len(outputs) + 3 * len(molecules))
    labels = {o: np.array([v]) for o, v in zip(outputs, values)}
    predictions = dict(labels)
    features = {}
    for i, (output, molecule) in enumerate(affinity.items()):
      base = len(outputs) + 3 * i
      predictions[output] = np.array([values[base]])
      features[binding_evidence.bucket_feature(molecule)] = np.array(
        [float(int(values[base + 1] * 3))]
      )
      features[binding_evidence.enrichment_feature(molecule)] = np.array(
        [values[base + 2]]
      )
    yield metric_types.StandardMetricInputs(
      labels=labels,
      predictions=predictions,
      **{constants.TRANSFORMED_FEATURES_KEY: features},
    )


def _accumulated_bytes(combiner, inputs, slices):
  """Bytes the accumulators of `slices` slices hold after every input."""
  tracemalloc.start()
  before = tracemalloc.get_traced_memory()[0]
  accumulators = [combiner.create_accumulator() for _ in range(slices)]
  for element in inputs:
    for i in range(slices):
      accumulators[i] = combiner.add_input(accumulators[i], element)
  held = tracemalloc.get_traced_memory()[0] - before
  tracemalloc.stop()
  for acc in accumulators:
    combiner.extract_output(acc)
  return held


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--examples', type=int, default=220_000)
  parser.add_argument('--outputs', type=int, default=9)
  parser.add_argument('--molecules', type=int, default=2)
  parser.add_argument('--slices', type=int, default=3)
  args = parser.parse_args()

  outputs = [f'read_{i}' for i in range(args.outputs)]
  molecules = [f'molecule_{i}' for i in range(args.molecules)]
  rng = np.random.default_rng(0)
  print(f'building {args.examples:,} inputs ...', flush=True)
  inputs = list(_inputs(args.examples, outputs, molecules, rng))
  rows = []
  for name, combiner, values_per_example in (
    (
      'AptamerRankMetrics',
      _combiner(tfma_metrics.AptamerRankMetrics(outputs)),
      2 * len(outputs),
    ),
    (
      'AffinityEvidenceMetrics',
      _combiner(
        tfma_affinity_metrics.AffinityEvidenceMetrics(
          {f'affinity_{m}': m for m in molecules}
        )
      ),
      3 * len(molecules),
    ),
  ):
    start = time.perf_counter()
    held = _accumulated_bytes(combiner, inputs, args.slices)
    seconds = time.perf_counter() - start
    values = values_per_example * args.examples * args.slices
    bare = values * np.dtype(np.float64).itemsize
    rows.append(
      (name, values, held / 2**20, bare / 2**20, held / bare, seconds)
    )
  print(
    '\n| combiner | values held | accumulators MiB | float64 arrays MiB '
    '| ratio | seconds |'
  )
  print('|---|---|---|---|---|---|')
  for name, values, held, bare, ratio, seconds in rows:
    print(
      f'| {name} | {values:,} | {held:.1f} | {bare:.1f} | {ratio:.2f} '
      f'| {seconds:.1f} |'
    )
  print(
    '\nCommand: python benchmarks/tfma_combiner_memory.py '
    + ' '.join(sys.argv[1:])
  )


if __name__ == '__main__':
  main()
