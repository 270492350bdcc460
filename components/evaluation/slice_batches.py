"""TFMA's slicing, one extract per batch and slice instead of per example.

TFMA unbatches its extracts before slicing, and then every example travels
through Beam alone: a preprocessor call, a fan-out per slicing spec and a
combiner `add_input` each. On a large test split that per-example Python
was most of the Evaluator's time (`benchmarks/RESULTS.md`, Evaluator
throughput).

This stage replaces TFMA's UnbatchExtractor and SliceKeyExtractor. It
computes each example's slice keys with TFMA's slicer (cached per distinct
slicing value, `slice_keys.CachedSliceKeysFn`), then emits, for each slice
key present in a batch, one extract holding that slice's rows of every
batched value, with the slice key as its only `SLICE_KEY_TYPES_KEY` and its
number of rows under `ROWS_KEY`. TFMA's FanoutSlices, preprocessors,
CombinePerKey, validation and writers then run unchanged, on a few
extracts per batch.

Only metrics whose combiners read a batch as the same examples one by one
may run on these extracts (`BATCH_AWARE_METRICS`: TFMA's own ExampleCount
counts one per extract): `evaluator_extractors` uses this stage only when
every configured metric is one of them. A batch whose values are not all
dense arrays, or that already carries slice keys (SQL slices), is
unbatched and sliced per example as TFMA does.

What differs from TFMA's per-example path: the order in which a slice's
examples reach a combiner (rank metrics do not depend on it), and TFMA's
slice-size counters, which count extracts, not examples (they set
nothing the Evaluator writes unless `min_slice_size` is used, which this
project does not; `can_batch` refuses batching when it is set).
"""

import copy
from typing import Any
from typing import Dict
from typing import Iterator
from typing import List

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis import types
from tensorflow_model_analysis.extractors import extractor
from tensorflow_model_analysis.slicer import slicer_lib as slicer

from components.evaluation import eval_config as eval_config_lib
from components.evaluation import fast_unbatch
from components.evaluation import lean_extracts
from components.evaluation import slice_keys

STAGE_NAME = slice_keys.STAGE_NAME

# How many examples an extract stands for; absent: one (TFMA's extracts).
ROWS_KEY = '_slice_batch_rows'

# (module, class name) of the metrics whose combiners take a batch of rows
# as those rows one by one: the rank, affinity and count metrics of this
# project.
BATCH_AWARE_METRICS = frozenset(
  {
    (eval_config_lib.TFMA_METRICS_MODULE, 'AptamerRankMetrics'),
    (eval_config_lib.TFMA_AFFINITY_METRICS_MODULE, 'AffinityEvidenceMetrics'),
    (eval_config_lib.TFMA_EXAMPLE_COUNT_MODULE, 'RowExampleCount'),
  }
)


def can_batch(eval_config: tfma.EvalConfig) -> bool:
  """Whether every metric of the config reads batched extracts correctly.

  Also False for what batching would change: a minimum slice size (TFMA
  counts a slice's extracts), query keys (lists of examples) and SQL slices.
  """
  if eval_config.options.min_slice_size.value > 1:
    return False
  specs = slice_keys.every_slicing_spec(eval_config)
  if any(spec.slice_keys_sql for spec in specs):
    return False
  for metrics_spec in eval_config.metrics_specs:
    if metrics_spec.query_key:
      return False
    for metric in metrics_spec.metrics:
      if (metric.module, metric.class_name) not in BATCH_AWARE_METRICS:
        return False
  return True


def take_rows(value: Any, rows: np.ndarray) -> Any:
  """The given rows of every array in a dense batched extract (dicts kept).

  Args:
    value: a batched extract or part of one, every leaf a numpy array with
      the batch dimension first (`fast_unbatch.dense_batch_size` says so).
    rows: the row indices to keep.
  """
  if isinstance(value, dict):
    return {k: take_rows(v, rows) for k, v in value.items()}
  return value[rows]


class SliceBatchesFn(beam.DoFn):
  """Splits each batched extract into one extract per slice key.

  Args:
    eval_config: the EvalConfig (slicing specs, models).
    feature_names: every feature a slicing spec reads.
  """

  def __init__(self, eval_config: tfma.EvalConfig, feature_names: List[str]):
    self._keys = slice_keys.CachedSliceKeysFn(eval_config, False, feature_names)
    self._slicing = lean_extracts.NeededInputs(
      frozenset(feature_names), serialized=False
    )
    self._per_model = len(eval_config.model_specs) > 1
    self._batched = beam.metrics.Metrics.counter(
      'aptamer_tfx', 'slice_batches_batched_examples'
    )
    self._per_example = beam.metrics.Metrics.counter(
      'aptamer_tfx', 'slice_batches_per_example_examples'
    )

  def _slicing_rows(self, batch: types.Extracts) -> List[Dict[str, Any]]:
    """Each example's slicing features alone, as the slicer reads them."""
    view = {
      k: batch[k]
      for k in (constants.FEATURES_KEY, constants.TRANSFORMED_FEATURES_KEY)
      if k in batch
    }
    view = lean_extracts.keep_needed(view, self._slicing, self._per_model)
    return fast_unbatch.unbatch(view)

  def process(
    self, batch: types.Extracts, slice_spec: List[slicer.SingleSliceSpec]
  ) -> Iterator[types.Extracts]:
    size = fast_unbatch.dense_batch_size(batch)
    if size is None or constants.SLICE_KEY_TYPES_KEY in batch:
      examples = fast_unbatch.unbatch(batch)
      self._per_example.inc(len(examples))
      for example in examples:
        yield from self._keys.process(example, slice_spec)
      return
    self._batched.inc(size)
    if self._slicing.features:
      rows = self._slicing_rows(batch)
    else:
      rows = [{}] * size  # Overall only: every example the same keys.
    members: Dict[Any, List[int]] = {}
    for i, row in enumerate(rows):
      keys, _, _ = self._keys.cached_slice_keys(row, slice_spec)
      for key in keys:
        members.setdefault(key, []).append(i)
    batch = {
      k: v for k, v in batch.items() if k != constants.ARROW_RECORD_BATCH_KEY
    }
    for key, indices in members.items():
      if len(indices) == size:
        part = copy.copy(batch)
      else:
        part = take_rows(batch, np.asarray(indices))
      part[constants.SLICE_KEY_TYPES_KEY] = slicer.slice_keys_to_numpy_array(
        [key]
      )
      part[ROWS_KEY] = np.int64(len(indices))
      yield part


# pylint: disable-next=invalid-name
def SliceBatchesExtractor(eval_config: tfma.EvalConfig) -> extractor.Extractor:
  """One extract per batch and slice key, under TFMA's slice stage name.

  Args:
    eval_config: the EvalConfig; `can_batch(eval_config)` must hold.
  """
  if not can_batch(eval_config):
    raise ValueError(
      'slice_batches: the EvalConfig has a metric, slice or option that '
      'needs per-example extracts'
    )
  return extractor.Extractor(
    stage_name=STAGE_NAME,
    ptransform=beam.ParDo(
      SliceBatchesFn(eval_config, slice_keys.slicing_features(eval_config)),
      slice_spec=slice_keys.slice_specs(eval_config),
    ),
  )
