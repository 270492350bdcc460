"""Batched slicing gives each slice the examples TFMA's slicing gives it.

`slice_batches.SliceBatchesFn` against TFMA's own unbatching and slice keys
on the same batches; when it may be used (`can_batch`); and the example
count that reads its extracts. Whole TFMA runs, batched against TFMA's
default extractors, are in `evaluator_extractors_test.py`.
"""

import beam_combine
import eval_configs
from google.protobuf.wrappers_pb2 import Int32Value
import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.extractors import slice_key_extractor
from tensorflow_model_analysis.extractors import unbatch_extractor
from tensorflow_model_analysis.metrics import example_count
from tensorflow_model_analysis.metrics import metric_types

from components.evaluation import eval_config
from components.evaluation import slice_batches
from components.evaluation import slice_keys
from components.evaluation import tfma_example_count
from components.features import encodings

_GC = encodings.GC_SLICE
_ABUNDANCE = encodings.ABUNDANCE_SLICE


def _config():
  """The pipeline's EvalConfig, with a cross of both slicing features."""
  config = eval_configs.pipeline_like()
  config.slicing_specs.add(feature_keys=[_GC, _ABUNDANCE])
  return config


def _batch(n=40, seed=0):
  """A trimmed batched extract as the Evaluator's slicing stage gets it."""
  rng = np.random.default_rng(seed)
  gc = np.array([b'30-40%', b'40-50%', b'50-60%'], dtype=object)
  return {
    constants.ARROW_RECORD_BATCH_KEY: object(),  # Dropped, as TFMA's unbatch.
    constants.FEATURES_KEY: {'lib': rng.integers(0, 9, (n, 1))},
    constants.TRANSFORMED_FEATURES_KEY: {
      _GC: gc[rng.integers(0, 3, n)],
      _ABUNDANCE: np.where(rng.random(n) < 0.3, b'rare', b'abundant'),
      'evidence_target_bucket': rng.integers(0, 3, n),
    },
    constants.LABELS_KEY: {'low_pos': rng.integers(0, 9, n)},
    constants.PREDICTIONS_KEY: {
      'low_pos': rng.random(n).astype(np.float32),
      'affinity_target': rng.random(n).astype(np.float32),
    },
  }


def _tfma_sliced(batch, config):
  """(slice key, example) pairs as TFMA's unbatching and slicing give them."""
  specs = slice_keys.slice_specs(config)
  tfma_fn = slice_key_extractor.ExtractSliceKeysFn(config, False)
  pairs = []
  for example in unbatch_extractor._extract_unbatched_inputs(batch):
    [sliced] = tfma_fn.process(example, specs)
    for key in sliced.pop(constants.SLICE_KEY_TYPES_KEY):
      pairs.append((key, sliced))
  return pairs


def _slice_batches(batch, config):
  fn = slice_batches.SliceBatchesFn(config, slice_keys.slicing_features(config))
  return list(fn.process(batch, slice_keys.slice_specs(config)))


def _leaves(extract, path=()):
  """{path: leaf} of a nested extract."""
  if isinstance(extract, dict):
    out = {}
    for key, value in extract.items():
      out.update(_leaves(value, path + (key,)))
    return out
  return {path: extract}


def test_each_slice_gets_tfmas_examples_in_one_extract():
  config = _config()
  batch = _batch()
  predictions = batch[constants.PREDICTIONS_KEY]
  parts = _slice_batches(batch, config)
  expected = {}
  for key, example in _tfma_sliced(batch, config):
    expected.setdefault(key, []).append(example)
  # Overall, 3 GC buckets, 2 abundance buckets and their crosses.
  assert len(expected) > 6
  assert sorted(map(str, expected)) == sorted(
    str(tuple(p[constants.SLICE_KEY_TYPES_KEY])[0]) for p in parts
  )
  for part in parts:
    [key] = part.pop(constants.SLICE_KEY_TYPES_KEY)
    rows = part.pop(slice_batches.ROWS_KEY)
    examples = expected[key]
    assert rows == len(examples)
    leaves = _leaves(part)
    assert sorted(leaves) == sorted(_leaves(examples[0]))
    for path, column in leaves.items():
      # The slice's rows in order: TFMA's examples stacked.
      stacked = np.concatenate([_leaves(e)[path] for e in examples])
      np.testing.assert_array_equal(column.reshape(stacked.shape), stacked)
  # The overall slice is the whole batch, its arrays shared, not copied.
  [overall] = [p for p in parts if p[constants.PREDICTIONS_KEY] is predictions]
  assert overall[constants.LABELS_KEY] is batch[constants.LABELS_KEY]


def test_overall_only_is_one_extract_per_batch():
  config = tfma.EvalConfig(slicing_specs=[tfma.SlicingSpec()])
  [part] = _slice_batches(_batch(n=7), config)
  assert part[slice_batches.ROWS_KEY] == 7
  assert list(part[constants.SLICE_KEY_TYPES_KEY]) == [()]
  assert constants.ARROW_RECORD_BATCH_KEY not in part


def test_a_batch_that_is_not_dense_is_sliced_per_example():
  config = _config()
  batch = _batch(n=5)
  batch[constants.FEATURES_KEY]['odd'] = [1, 2, 3, 4, 5]  # A list.
  parts = _slice_batches(batch, config)
  assert all(slice_batches.ROWS_KEY not in p for p in parts)
  assert len(parts) == 5  # One per example, with all its slice keys.
  expected = _tfma_sliced(batch, config)
  assert sum(len(p[constants.SLICE_KEY_TYPES_KEY]) for p in parts) == len(
    expected
  )


def test_take_rows_keeps_the_nesting():
  batch = {'a': {'b': np.arange(6).reshape(3, 2)}, 'c': np.arange(3)}
  taken = slice_batches.take_rows(batch, np.array([2, 0]))
  np.testing.assert_array_equal(taken['a']['b'], [[4, 5], [0, 1]])
  np.testing.assert_array_equal(taken['c'], [2, 0])


def _per_example_variant(config, change):
  variant = tfma.EvalConfig()
  variant.CopyFrom(config)
  change(variant)
  return variant


def _tfma_example_count(config):
  for spec in config.metrics_specs:
    for metric in spec.metrics:
      if metric.class_name == 'RowExampleCount':
        metric.class_name, metric.module = 'ExampleCount', ''


@pytest.mark.parametrize(
  'change, batched',
  [
    (lambda c: None, True),
    (_tfma_example_count, False),
    (lambda c: c.options.min_slice_size.MergeFrom(Int32Value(value=5)), False),
    (lambda c: setattr(c.metrics_specs[0], 'query_key', 'cluster'), False),
    (lambda c: c.slicing_specs.add(slice_keys_sql='SELECT 1'), False),
  ],
  ids=[
    'pipeline',
    'TFMA ExampleCount',
    'min_slice_size 5',
    'query key',
    'SQL slice',
  ],
)
def test_can_batch_only_batch_aware_configs(change, batched):
  config = _per_example_variant(_config(), change)
  assert slice_batches.can_batch(config) is batched
  if not batched:
    with pytest.raises(ValueError, match='per-example'):
      slice_batches.SliceBatchesExtractor(config)


def _count(metric, elements, model_names=('',), example_weighted=False):
  [computation] = metric.computations(
    model_names=list(model_names), example_weighted=example_weighted
  )
  return beam_combine.combine_globally(computation.combiner, elements)


def _inputs(weights, rows=None):
  extracts = {constants.EXAMPLE_WEIGHTS_KEY: weights}
  if rows is not None:
    extracts[slice_batches.ROWS_KEY] = np.int64(rows)
  return metric_types.StandardMetricInputs(extracts)


@pytest.mark.parametrize('example_weighted', [False, True])
def test_row_example_count_equals_tfmas_on_examples(example_weighted):
  examples = [_inputs(np.array([w])) for w in (0.5, 2.0, 1.0)]
  ours = _count(
    tfma_example_count.RowExampleCount(),
    examples,
    example_weighted=example_weighted,
  )
  theirs = _count(
    example_count.ExampleCount(), examples, example_weighted=example_weighted
  )
  assert ours == theirs  # Same keys, same values.
  assert list(ours.values()) == [3.5 if example_weighted else 3.0]


def test_row_example_count_counts_the_rows_of_a_batch():
  elements = [
    _inputs(np.array([0.5, 2.0, 1.0]), rows=3),
    _inputs(None, rows=4),
    _inputs(np.array([1.0])),  # One example, as TFMA gives it.
  ]
  [count] = _count(tfma_example_count.RowExampleCount(), elements).values()
  assert count == 8
  # Weighted: the weights where present, one per example otherwise
  # (TFMA's rule for an example without a weight).
  [weighted] = _count(
    tfma_example_count.RowExampleCount(), elements, example_weighted=True
  ).values()
  assert weighted == 3.5 + 4 + 1.0


def test_the_pipeline_config_counts_with_row_example_count():
  names = {
    (m.module, m.class_name)
    for spec in _config().metrics_specs
    for m in spec.metrics
  }
  assert (eval_config.TFMA_EXAMPLE_COUNT_MODULE, 'RowExampleCount') in names
  assert names <= slice_batches.BATCH_AWARE_METRICS
