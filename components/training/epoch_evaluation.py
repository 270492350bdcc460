"""Per-epoch evaluation: the original's metric tables during training.

Before training and after every epoch, the model predicts training examples
and validation examples (all of them, or a new random sample of each at
every evaluation, as the original's shuffled queue), and `rank_metrics` scores
the predictions against the raw counts, per output and as the mean row. The
tables are printed, the mean metrics are added to the Keras logs (so
TensorBoard, the history and KerasTuner objectives see them as
`auc/true_top_1p` and `val_auc/true_top_1p`; the validation loss as
`val_loss`: the training loop makes no second pass over the validation
split), and each epoch's tables are
written to a JSON-lines report (one line per epoch), with the seconds each
split's evaluation took (drawing the sample, predicting, the metrics): at
scale the report costs as much as an epoch's training, and this says where.
"""

import json
import math
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from components.evaluation import rank_metrics

REPORT_COLUMNS = ('loss',) + rank_metrics.DEFAULT_REPORT_COLUMNS
# The console's one line per split and evaluation: the mean over outputs.
SUMMARY_COLUMNS = (
  'loss',
  'auc/true_top_1p',
  'spearman_correlation/score_all',
  'pearson_correlation/score_all',
  'scaled_dcg/score_all',
)
_SUMMARY_HEADER = ('epoch', 'split', 'examples') + tuple(
  c.split('/')[0].replace('_correlation', '') for c in SUMMARY_COLUMNS
)
LOGGED_METRICS = (
  'auc/true_top_1p',
  'spearman_correlation/score_all',
  'pearson_correlation/score_all',
  'scaled_dcg/score_all',
)


# Examples per model call of the report's predictions.
PREDICT_BATCH_SIZE = 8192


def _length(batch) -> int:
  """Examples in a batch (the first array of its structure)."""
  return len(tf.nest.flatten(batch)[0])


def _concatenate(batches):
  return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *batches)


def materialize(dataset: tf.data.Dataset, limit: int = 0) -> Tuple[Any, Any]:
  """(inputs, labels) numpy structures from a dataset of such batches.

  Args:
    dataset: batches of (inputs, labels); either may be an array or a
      nested structure (dict, tuple) of arrays.
    limit: keep at most this many examples; 0 keeps all.
  """
  batches = []
  total = 0
  for batch in dataset.as_numpy_iterator():
    batches.append(batch)
    total += _length(batch)
    if limit and total >= limit:
      break
  if not batches:
    raise ValueError('no examples to evaluate')
  joined = _concatenate(batches)
  if limit:
    joined = tf.nest.map_structure(lambda a: a[:limit], joined)
  return joined


def compiled_predict_fn(
  model: keras.Model, batch_size: int = PREDICT_BATCH_SIZE
) -> Callable[[Any], np.ndarray]:
  """A `predict_fn` that calls the model in compiled batches.

  The report predicts whole splits after every epoch, which at paper scale
  costs as much as the epoch's training. Calling the model through one
  `tf.function` over numpy slices gives the same predictions as
  `model.predict` without its per-call dataset and step loop
  (benchmarks/RESULTS.md, Paper scale, has the rates).

  Args:
    model: a model with one output tensor [batch, outputs].
    batch_size: examples per call.
  """
  forward = tf.function(
    lambda batch: model(batch, training=False), reduce_retracing=True
  )

  def predict(inputs) -> np.ndarray:
    parts = []
    for start in range(0, _length(inputs), batch_size):
      window = slice(start, start + batch_size)
      batch = tf.nest.map_structure(lambda a, w=window: a[w], inputs)
      parts.append(forward(batch).numpy())
    return np.concatenate(parts)

  return predict


class ShuffledQueue:
  """Evaluation samples drawn as the original's shuffled queue.

  The playbook: "the evaluation is run on a shuffled queue so each eval will
  grab a random subsample if the whole dataset is not used". Each `draw()`
  returns the next `size` examples of a stream that passes over the split
  again and again, reshuffled on every pass, so successive evaluations see
  different examples and, over the epochs, the whole split. A split of at
  most `size` examples is returned whole, every time, without repeats.

  Args:
    dataset: one pass over the split in batches of (inputs, labels),
      reshuffled on each iteration (tf.data's shuffle does so by default).
    size: examples per draw, at least 1.
  """

  def __init__(self, dataset: tf.data.Dataset, size: int):
    if size < 1:
      raise ValueError(f'ShuffledQueue size must be at least 1, got {size}')
    self._dataset = dataset
    self._size = size
    self._iterator = dataset.as_numpy_iterator()
    self._leftover = None
    self._whole = None
    # False until a draw has been filled before the first pass ended.
    self._split_is_larger = False

  def draw(self) -> Tuple[Any, Any]:
    """The next `size` examples as (inputs, labels) numpy structures."""
    if self._whole is not None:
      return self._whole
    parts = [] if self._leftover is None else [self._leftover]
    total = sum(_length(p) for p in parts)
    while total < self._size:
      batch = next(self._iterator, None)
      if batch is not None:
        parts.append(batch)
        total += _length(batch)
      elif not self._split_is_larger:
        if not parts:
          raise ValueError('no examples to evaluate')
        self._whole = _concatenate(parts)
        return self._whole
      else:
        self._iterator = self._dataset.as_numpy_iterator()
    self._split_is_larger = True
    joined = _concatenate(parts)
    sample = tf.nest.map_structure(lambda a: a[: self._size], joined)
    rest = tf.nest.map_structure(lambda a: a[self._size :], joined)
    self._leftover = rest if _length(rest) else None
    return sample


class InMemorySample:
  """Evaluation samples drawn from a split held in memory.

  The same samples as `ShuffledQueue` in distribution (each `draw()` a
  uniform random sample of `size` examples without repeats, every example
  equally likely; a split of at most `size` examples whole, every time),
  for a split already parsed into memory. The split is shuffled once, here,
  and laid out as a ring (its first `size` shuffled examples repeated at
  the end); a draw is the window of `size` examples from a random start,
  a view of those arrays: no copy, where gathering 200,000 examples per
  draw cost about 1 s after each epoch of training at a million sequences
  (benchmarks/RESULTS.md, Paper scale).

  The arrays a draw returns are views, valid until this object is gone;
  callers must not modify them.

  Args:
    data: (inputs, labels) numpy structures of the whole split. This
      object takes them over: the shuffled ring replaces them, array by
      array, so the split is held twice only one array at a time.
    size: examples per draw, at least 1.
    seed: seeds the shuffle and the draws, so a run's reports repeat.
  """

  def __init__(self, data: Tuple[Any, Any], size: int, seed: int):
    if size < 1:
      raise ValueError(f'InMemorySample size must be at least 1, got {size}')
    total = _length(data)
    if not total:
      raise ValueError('no examples to evaluate')
    self._size = size
    self._total = total
    self._rng = np.random.default_rng(seed)
    if total <= size:
      self._data = data
      return
    order = self._rng.permutation(total)
    ring = np.concatenate([order, order[:size]])
    arrays = tf.nest.flatten(data)
    skeleton = tf.nest.map_structure(lambda _: None, data)
    del data
    for i in range(len(arrays)):
      # Replacing the list's reference frees the unshuffled array at once.
      arrays[i] = arrays[i][ring]
    self._data = tf.nest.pack_sequence_as(skeleton, arrays)

  def draw(self) -> Tuple[Any, Any]:
    """A new random sample of `size` examples as (inputs, labels)."""
    if self._total <= self._size:
      return self._data
    start = int(self._rng.integers(self._total))
    window = slice(start, start + self._size)
    return tf.nest.map_structure(lambda a: a[window], self._data)


# What `EpochEvaluation` draws a new sample from at every evaluation.
SAMPLERS = (ShuffledQueue, InMemorySample)


def summary_header(output_names: List[str]) -> str:
  """The header of the console's epoch table."""
  return (
    f'\nEpoch evaluation: mean over {len(output_names)} outputs (tables per '
    'output in the run log and epoch_report.jsonl)\n'
    + '  '.join(f'{h:>10}' for h in _SUMMARY_HEADER)
  )


def summary_line(
  epoch: str, split: str, examples: int, mean_row: Dict[str, float]
) -> str:
  """One row of the console's epoch table: the mean row of one split."""

  def cell(value) -> str:
    if value is None or math.isnan(value):
      return f'{"nan":>10}'
    return f'{value:>10.4f}'

  return '  '.join(
    [f'{epoch:>10}', f'{split:>10}', f'{examples:>10}']
    + [cell(mean_row.get(c)) for c in SUMMARY_COLUMNS]
  )


class EpochEvaluation(keras.callbacks.Callback):
  """Evaluates rank metrics before training and after each epoch.

  Args:
    predict_fn: maps inputs (an array or a dict of arrays) to predicted
      outputs [batch, outputs].
    datasets: name -> (inputs, (raw counts, normalised targets)), or one of
      `SAMPLERS` that gives a new sample of those at every evaluation;
      the name 'validation' is logged with the `val_` prefix, any other
      name without a prefix.
    output_names: one name per output column.
    loss_fn: (normalised targets, predictions) -> per example and output
      loss, NaN where undefined; gives each row's `loss` (the mean row's is
      the training loss).
    report_path: JSON-lines file of every epoch's tables so far ('' to
      skip).
    print_fn: where the full tables (a row per output) go: the run log by
      default (the console too with --verbosity=1).
    summary_fn: where the one-line summary per split goes (the mean row,
      under a header printed once): the console by default.
  """

  def __init__(
    self,
    predict_fn: Callable[[np.ndarray], np.ndarray],
    datasets: Dict[str, Any],
    output_names: List[str],
    loss_fn: Callable[[Any, Any], Any],
    report_path: str = '',
    print_fn: Optional[Callable[[str], None]] = logging.info,
    summary_fn: Optional[Callable[[str], None]] = print,
  ):
    super().__init__()
    self._loss_fn = loss_fn
    self._predict_fn = predict_fn
    self._datasets = datasets
    self._output_names = list(output_names)
    self._report_path = report_path
    self._print = print_fn or (lambda _: None)
    self._summarize = summary_fn or (lambda _: None)
    self.tables: List[Dict] = []

  def evaluate(self, epoch: int) -> Dict[str, Dict]:
    """Scores every dataset; returns name -> evaluation table."""
    tables = {}
    seconds = {}
    for name, data in self._datasets.items():
      start = time.perf_counter()
      if isinstance(data, SAMPLERS):
        data = data.draw()
      inputs, (counts, targets) = data
      drawn = time.perf_counter()
      predicted = np.asarray(self._predict_fn(inputs), np.float64)
      predicted_at = time.perf_counter()
      table = rank_metrics.evaluation_table(
        counts.astype(np.float64), predicted, self._output_names
      )
      per_output = _column_nanmean(
        np.asarray(self._loss_fn(targets, predicted.astype(np.float32)))
      )
      for output, loss in zip(self._output_names, per_output):
        table[output]['loss'] = loss
      table[rank_metrics.MEAN_ROW]['loss'] = _nanmean(per_output)
      tables[name] = table
      seconds[name] = {
        'draw': round(drawn - start, 3),
        'predict': round(predicted_at - drawn, 3),
        'metrics': round(time.perf_counter() - predicted_at, 3),
      }
      label = 'pre-training' if epoch < 0 else f'epoch {epoch + 1}'
      self._print(
        f'\n{name} evaluation, {label} ({len(counts)} examples):\n'
        + rank_metrics.format_table(table, columns=REPORT_COLUMNS)
      )
      if not self.tables and name == next(iter(self._datasets)):
        self._summarize(summary_header(self._output_names))
      self._summarize(
        summary_line(
          'pre' if epoch < 0 else str(epoch + 1),
          name,
          len(counts),
          table[rank_metrics.MEAN_ROW],
        )
      )
    record = {'epoch': epoch + 1, 'tables': tables, 'seconds': seconds}
    self.tables.append(record)
    if self._report_path:
      # Rewritten whole each epoch: object stores (gs://, s3://) cannot
      # append, and the report is small.
      with tf.io.gfile.GFile(self._report_path, 'w') as f:
        for row in self.tables:
          f.write(json.dumps(nan_to_none(row), allow_nan=False) + '\n')
    return tables

  def on_train_begin(self, logs=None):
    self.evaluate(-1)

  def on_epoch_end(self, epoch, logs=None):
    tables = self.evaluate(epoch)
    if logs is None:
      return
    for name, table in tables.items():
      prefix = 'val_' if name == 'validation' else ''
      for metric in LOGGED_METRICS:
        logs[prefix + metric] = table[rank_metrics.MEAN_ROW][metric]
      if prefix:
        # Keras logs the training loss itself (the mean over the epoch's
        # batches); the validation loss is this split's.
        logs[prefix + 'loss'] = table[rank_metrics.MEAN_ROW]['loss']


def _column_nanmean(values: np.ndarray) -> List[float]:
  return [_nanmean(values[:, j]) for j in range(values.shape[1])]


def _nanmean(values) -> float:
  values = np.asarray(values, np.float64)
  finite = values[~np.isnan(values)]
  return float(finite.mean()) if len(finite) else float('nan')


def nan_to_none(value):
  """Strict JSON has no NaN: undefined metrics are written as null."""
  if isinstance(value, dict):
    return {k: nan_to_none(v) for k, v in value.items()}
  if isinstance(value, float) and math.isnan(value):
    return None
  return value
