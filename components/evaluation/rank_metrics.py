"""Rank metrics of the original aptamer evaluation, in numpy and scipy.

This is the single implementation of the evaluation metrics of MODEL_SPEC.md
section 3.3 (the original's `eval_feedforward.compute_evaluation_metrics`).
Per-epoch training reports, the KerasTuner objective and the custom TFMA
metrics all call into this module, so they agree to the last bit.

Definitions, including those the spec leaves open:

* Thresholders. `top_fraction_threshold(values, fraction)` marks the values
  strictly greater than `np.percentile(nonzero, 100 * (1 - fraction))`, where
  `nonzero` are the values `!= 0` (negative values count as nonzero, as in the
  original) and the percentile uses numpy's default 'linear' method
  (Hyndman-Fan type 7). The expression `100 * (1 - fraction)` is kept verbatim
  from the original because a last-bit change of the percentile can move a
  value across the strict threshold. No nonzero values: nothing is marked.
  `nonzero_threshold` marks values >= 1.
* AUC. The Mann-Whitney form with average ranks for tied scores, which equals
  sklearn's `roc_auc_score` (trapezoidal ROC) exactly in exact arithmetic.
  NaN when only one class is present.
* Spearman and Pearson. Spearman is Pearson of average ranks (as
  `scipy.stats.spearmanr`). NaN, without warnings, for fewer than two
  examples or a constant input.
* DCG. `sum_i rel_(i) / log2(1 + i)`, i = 1..n, with examples ordered by
  descending predicted score. Ties in the predicted score keep their input
  order (a stable sort of the negated scores); the original's
  `argsort(...)[::-1]` left them in an unspecified order. The relevance is the
  actual value (raw counts). IDCG orders by the actual values, descending;
  WDCG (worst) ascending, so ties in the actual values cannot matter there.
  normalized = DCG / IDCG (NaN if IDCG == 0); scaled = (DCG - WDCG) /
  (IDCG - WDCG) (NaN if IDCG == WDCG, e.g. all-equal relevance or N = 1).
  With `top_frac`, n = min(N, max(1, round(top_frac * N))) where `round` is
  Python's (half to even), as in the original.
* Enrichment. (TP / predicted positives) / (positives / N); NaN if fewer than
  10 predicted positives, or if there are no positives.
* Score subsets. `score_all` is every example; `score_top_1p` the examples
  whose *predicted* score passes `top_fraction_threshold(predicted, 0.01)`.
  Metrics on a subset re-rank within it.

Counts are returned as floats so that a metrics row is a uniform
`dict[str, float]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import math

import numpy as np

TOP_FRACTIONS = {'top_0.1p': 0.001, 'top_1p': 0.01, 'top_10p': 0.1}
# Minimum number of predicted positives for enrichment, as in the original.
ENRICHMENT_MIN_PREDICTED = 10
MEAN_ROW = 'mean'

METRIC_KEYS = (
  'auc/true_top_0.1p',
  'auc/true_top_1p',
  'auc/true_top_10p',
  'spearman_correlation/score_all',
  'spearman_correlation/score_top_1p',
  'pearson_correlation/score_all',
  'pearson_correlation/score_top_1p',
  'scaled_dcg/score_all',
  'scaled_dcg/score_top_1p',
  'scaled_dcg_top_1p/score_all',
  'normalized_dcg/score_all',
  'normalized_dcg_top_1p/score_all',
  'enrichment/true_top_1p_score_top_1p',
)
COUNT_KEYS = ('count', 'nan_predictions')
OUTPUT_KEYS = METRIC_KEYS + COUNT_KEYS

# The tuning objective is the 'mean' row of this column.
TUNER_OBJECTIVE_KEY = 'auc/true_top_1p'

DEFAULT_REPORT_COLUMNS = (
  'auc/true_top_1p',
  'spearman_correlation/score_all',
  'pearson_correlation/score_all',
  'scaled_dcg/score_all',
  'scaled_dcg_top_1p/score_all',
  'count',
  'nan_predictions',
)


def _as_1d(values) -> np.ndarray:
  """Returns `values` as a contiguous 1-D float64 array."""
  array = np.ascontiguousarray(values, dtype=np.float64)
  if array.ndim != 1:
    raise ValueError(f'expected a 1-D array, got shape {array.shape}')
  return array


def _as_pair(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
  actual = _as_1d(actual)
  predicted = _as_1d(predicted)
  if actual.shape != predicted.shape:
    raise ValueError(
      f'shape mismatch: actual {actual.shape}, predicted {predicted.shape}'
    )
  return actual, predicted


# ----------------------------------------------------------------------------
# Thresholders.


def top_fraction_threshold(values, fraction: float) -> np.ndarray:
  """Marks the top `fraction` of the nonzero values.

  Args:
    values: 1-D array of scores or counts, without NaN.
    fraction: fraction in (0, 1), e.g. 0.01 for the top 1%.

  Returns:
    Boolean array, True where the value is strictly greater than the
    `100 * (1 - fraction)` percentile (numpy 'linear' method) of the values
    `!= 0`. All False if there is no nonzero value.
  """
  values = _as_1d(values)
  nonzero = values[values != 0]
  if not nonzero.size:
    return np.zeros(values.shape, dtype=bool)
  threshold = np.percentile(nonzero, 100 * (1 - fraction))
  return values > threshold


def nonzero_threshold(values) -> np.ndarray:
  """Marks values >= 1 (the original's `nonzero` thresholder).

  Args:
    values: 1-D array of counts.

  Returns:
    Boolean array, True where the value is >= 1.
  """
  return _as_1d(values) >= 1


THRESHOLDERS = {
  'nonzero': nonzero_threshold,
  **{
    name: (lambda v, f=fraction: top_fraction_threshold(v, f))
    for name, fraction in TOP_FRACTIONS.items()
  },
}


# ----------------------------------------------------------------------------
# Ranking helpers: every metric below needs at most one sort per input.


def _group_average_positions(sorted_values: np.ndarray) -> np.ndarray:
  """1-based positions in a sorted array, averaged over runs of equal values."""
  n = sorted_values.size
  starts = np.flatnonzero(
    np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
  )
  ends = np.append(starts[1:], n)
  # Positions starts+1 .. ends average to (starts + 1 + ends) / 2.
  return np.repeat((starts + 1 + ends) / 2.0, ends - starts)


def _average_ranks(values: np.ndarray) -> np.ndarray:
  """Average ranks (1-based, ties averaged) as `scipy.stats.rankdata`."""
  order = np.argsort(values)
  ranks = np.empty(values.size, dtype=np.float64)
  ranks[order] = _group_average_positions(values[order])
  return ranks


def _descending_order(scores: np.ndarray) -> np.ndarray:
  """Indices by descending score; ties keep input order (stable sort)."""
  return np.argsort(-scores, kind='stable')


def _discounts(n: int) -> np.ndarray:
  return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))


def _top_n(size: int, top_n: int | None, top_frac: float | None) -> int:
  """Number of DCG positions, as the original's discounted_cumulative_gain."""
  if top_n is not None and top_frac is not None:
    raise ValueError('At most one of top_n and top_frac may be specified.')
  if top_n is not None:
    if top_n < 1:
      raise ValueError(f'top_n must be >= 1, got {top_n}')
    return min(top_n, size)
  if top_frac is not None:
    # Python round() (half to even), with at least one position.
    return min(max(1, int(round(top_frac * size))), size)
  return size


class _Ranked:
  """One sort of each input, shared by all metrics of an (actual, predicted).

  Attributes:
    actual: the actual values.
    predicted: the predicted scores.
    by_prediction: actual values ordered by descending prediction (stable).
    actual_ascending: actual values sorted ascending.
    predicted_ranks: average ranks of the predictions.
    actual_ranks: average ranks of the actual values.
  """

  def __init__(self, actual: np.ndarray, predicted: np.ndarray):
    self.actual = actual
    self.predicted = predicted
    n = actual.size
    order = _descending_order(predicted)
    self.by_prediction = actual[order]
    # Tie runs are contiguous in either direction, so the average descending
    # position p maps to the ascending average rank n + 1 - p.
    self.predicted_ranks = np.empty(n, dtype=np.float64)
    self.predicted_ranks[order] = (
      n + 1 - _group_average_positions(predicted[order])
    )
    actual_order = np.argsort(actual)
    self.actual_ascending = actual[actual_order]
    self.actual_ranks = np.empty(n, dtype=np.float64)
    self.actual_ranks[actual_order] = _group_average_positions(
      self.actual_ascending
    )

  def dcg_parts(
    self, top_n: int | None = None, top_frac: float | None = None
  ) -> tuple[float, float, float]:
    """Returns (DCG, IDCG, WDCG) over the top positions."""
    n = _top_n(self.actual.size, top_n, top_frac)
    weights = _discounts(n)
    dcg = float(weights @ self.by_prediction[:n])
    idcg = float(weights @ self.actual_ascending[::-1][:n])
    wdcg = float(weights @ self.actual_ascending[:n])
    return dcg, idcg, wdcg

  def normalized_dcg(self, top_n=None, top_frac=None) -> float:
    dcg, idcg, _ = self.dcg_parts(top_n, top_frac)
    return dcg / idcg if idcg != 0 else math.nan

  def scaled_dcg(self, top_n=None, top_frac=None) -> float:
    dcg, idcg, wdcg = self.dcg_parts(top_n, top_frac)
    span = idcg - wdcg
    return (dcg - wdcg) / span if span > 0 else math.nan

  def spearman(self) -> float:
    return _pearson(self.actual_ranks, self.predicted_ranks)

  def pearson(self) -> float:
    return _pearson(self.actual, self.predicted)


# ----------------------------------------------------------------------------
# Metrics.


def _auc_from_ranks(labels: np.ndarray, score_ranks: np.ndarray) -> float:
  positives = int(np.count_nonzero(labels))
  negatives = labels.size - positives
  if positives == 0 or negatives == 0:
    return math.nan
  # Mann-Whitney U of the positives; average ranks give ties a half credit.
  u = score_ranks[labels].sum() - positives * (positives + 1) / 2.0
  return float(u / (positives * negatives))


def roc_auc(labels, scores) -> float:
  """ROC-AUC, with ties scored as `sklearn.metrics.roc_auc_score`.

  Args:
    labels: 1-D boolean (or 0/1) array of true classes.
    scores: 1-D array of scores, higher meaning more likely positive.

  Returns:
    The area under the ROC curve, or NaN if only one class is present.
  """
  labels = np.asarray(labels).astype(bool)
  scores = _as_1d(scores)
  if labels.shape != scores.shape:
    raise ValueError(f'shape mismatch: {labels.shape} vs {scores.shape}')
  return _auc_from_ranks(labels, _average_ranks(scores))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
  """Pearson r as scipy.stats.pearsonr; NaN if n < 2 or an input is constant."""
  if x.size < 2 or x.min() == x.max() or y.min() == y.max():
    return math.nan
  with np.errstate(all='ignore'):
    xm = x - x.mean()
    ym = y - y.mean()
    # Normalising first avoids overflow, as scipy does.
    xm /= np.linalg.norm(xm)
    ym /= np.linalg.norm(ym)
    r = float(xm @ ym)
  return max(-1.0, min(1.0, r)) if not math.isnan(r) else math.nan


def pearson(actual, predicted) -> float:
  """Pearson correlation.

  Args:
    actual: 1-D array.
    predicted: 1-D array of the same length.

  Returns:
    Pearson's r, or NaN for fewer than two examples or a constant input.
  """
  return _pearson(*_as_pair(actual, predicted))


def spearman(actual, predicted) -> float:
  """Spearman rank correlation, ties given average ranks (scipy spearmanr).

  Args:
    actual: 1-D array.
    predicted: 1-D array of the same length.

  Returns:
    Spearman's rho, or NaN for fewer than two examples or a constant input.
  """
  actual, predicted = _as_pair(actual, predicted)
  return _pearson(_average_ranks(actual), _average_ranks(predicted))


def dcg(
  actual, predicted, top_n: int | None = None, top_frac: float | None = None
) -> float:
  """Discounted cumulative gain, ordered by descending prediction.

  Args:
    actual: 1-D array of relevances (raw counts).
    predicted: 1-D array of scores used to order the examples; ties keep input
      order.
    top_n: if given, the number of top positions to sum.
    top_frac: if given, the fraction of the examples to sum (at least one).

  Returns:
    `sum_i actual_(i) / log2(1 + i)` over the first n positions.
  """
  ranked = _Ranked(*_as_pair(actual, predicted))
  return ranked.dcg_parts(top_n, top_frac)[0]


def normalized_dcg(
  actual, predicted, top_n: int | None = None, top_frac: float | None = None
) -> float:
  """DCG / IDCG (see `dcg` for the arguments); NaN if IDCG is 0."""
  return _Ranked(*_as_pair(actual, predicted)).normalized_dcg(top_n, top_frac)


def scaled_dcg(
  actual, predicted, top_n: int | None = None, top_frac: float | None = None
) -> float:
  """(DCG - WDCG) / (IDCG - WDCG), WDCG the worst (ascending) ordering.

  See `dcg` for the arguments. NaN if IDCG == WDCG.
  """
  return _Ranked(*_as_pair(actual, predicted)).scaled_dcg(top_n, top_frac)


def enrichment(
  true_labels, predicted_labels, minimum_size: int = ENRICHMENT_MIN_PREDICTED
) -> float:
  """Enrichment of true positives among predicted positives over random.

  Args:
    true_labels: 1-D boolean array of true actives.
    predicted_labels: 1-D boolean array of predicted actives.
    minimum_size: minimum number of predicted positives.

  Returns:
    `(TP / predicted positives) / (positives / N)`, or NaN with fewer than
    `minimum_size` predicted positives or no positives at all.
  """
  true_labels = np.asarray(true_labels, dtype=bool)
  predicted_labels = np.asarray(predicted_labels, dtype=bool)
  predicted_positives = np.count_nonzero(predicted_labels)
  positives = np.count_nonzero(true_labels)
  if predicted_positives < minimum_size or positives == 0:
    return math.nan
  true_positives = np.count_nonzero(true_labels & predicted_labels)
  return float(
    (true_positives / predicted_positives) / (positives / true_labels.size)
  )


# ----------------------------------------------------------------------------
# Tables.


def output_metrics(actual, predicted) -> dict[str, float]:
  """All metrics of one output column, keyed as the original's flat columns.

  Rows where either value is NaN are dropped first.

  Args:
    actual: 1-D array of actual values (raw counts), NaN where missing.
    predicted: 1-D array of predictions, NaN where the model produced NaN.

  Returns:
    Dict with the keys of `OUTPUT_KEYS`, in that order: the metrics (NaN where
    undefined), `count` (non-NaN actual values) and `nan_predictions` (NaN
    predictions among all rows, whatever the actual value).
  """
  actual, predicted = _as_pair(actual, predicted)
  result = dict.fromkeys(METRIC_KEYS, math.nan)
  result['count'] = float(np.count_nonzero(~np.isnan(actual)))
  result['nan_predictions'] = float(np.count_nonzero(np.isnan(predicted)))
  valid = ~(np.isnan(actual) | np.isnan(predicted))
  actual = actual[valid]
  predicted = predicted[valid]
  if not actual.size:
    return result

  ranked = _Ranked(actual, predicted)
  for name, fraction in TOP_FRACTIONS.items():
    labels = top_fraction_threshold(actual, fraction)
    result[f'auc/true_{name}'] = _auc_from_ranks(labels, ranked.predicted_ranks)
  result['spearman_correlation/score_all'] = ranked.spearman()
  result['pearson_correlation/score_all'] = ranked.pearson()
  result['scaled_dcg/score_all'] = ranked.scaled_dcg()
  result['scaled_dcg_top_1p/score_all'] = ranked.scaled_dcg(top_frac=0.01)
  result['normalized_dcg/score_all'] = ranked.normalized_dcg()
  result['normalized_dcg_top_1p/score_all'] = ranked.normalized_dcg(
    top_frac=0.01
  )

  top_scores = top_fraction_threshold(predicted, TOP_FRACTIONS['top_1p'])
  if top_scores.any():
    top = _Ranked(actual[top_scores], predicted[top_scores])
    result['spearman_correlation/score_top_1p'] = top.spearman()
    result['pearson_correlation/score_top_1p'] = top.pearson()
    result['scaled_dcg/score_top_1p'] = top.scaled_dcg()
  result['enrichment/true_top_1p_score_top_1p'] = enrichment(
    top_fraction_threshold(actual, TOP_FRACTIONS['top_1p']), top_scores
  )
  return result


def _nanmean(values: list[float]) -> float:
  """Mean of the non-NaN values, NaN (and no warning) if there are none."""
  kept = [v for v in values if not math.isnan(v)]
  return float(np.mean(kept)) if kept else math.nan


def evaluation_table(
  actual, predicted, output_names: Sequence[str]
) -> dict[str, dict[str, float]]:
  """Metrics of every output column plus a `mean` row.

  Args:
    actual: [N, T] array of actual values (raw counts), NaN where missing.
    predicted: [N, T] array of predictions.
    output_names: the T output names.

  Returns:
    Dict from output name (in the given order, then 'mean') to the
    `output_metrics` dict. Outputs whose predictions are all NaN get NaN
    metrics and are left out of the mean row. The mean row holds, for each
    metric, the mean over the remaining outputs ignoring NaN (NaN if none);
    `count` summed over the remaining outputs; `nan_predictions` summed over
    all outputs, so that a diverged output still shows up there.
  """
  actual = np.asarray(actual, dtype=np.float64)
  predicted = np.asarray(predicted, dtype=np.float64)
  output_names = list(output_names)
  if actual.ndim != 2 or actual.shape != predicted.shape:
    raise ValueError(
      f'expected equal [N, T] shapes, got {actual.shape}, {predicted.shape}'
    )
  if actual.shape[1] != len(output_names):
    raise ValueError(
      f'{len(output_names)} output names for {actual.shape[1]} columns'
    )
  if MEAN_ROW in output_names or len(set(output_names)) != len(output_names):
    raise ValueError(f'output names must be unique and not {MEAN_ROW!r}')

  table = {}
  included = []
  for j, name in enumerate(output_names):
    column = predicted[:, j]
    table[name] = output_metrics(actual[:, j], column)
    if not np.isnan(column).all():
      included.append(name)

  mean = {
    key: _nanmean([table[name][key] for name in included])
    for key in METRIC_KEYS
  }
  mean['count'] = float(sum(table[name]['count'] for name in included))
  mean['nan_predictions'] = float(
    sum(table[name]['nan_predictions'] for name in output_names)
  )
  table[MEAN_ROW] = mean
  return table


def format_table(
  table: Mapping[str, Mapping[str, float]],
  columns: Sequence[str] = DEFAULT_REPORT_COLUMNS,
  precision: int = 4,
) -> str:
  """Formats an `evaluation_table` as fixed-width text.

  Args:
    table: row name -> metric -> value, e.g. from `evaluation_table`.
    columns: the metric keys to show, in order.
    precision: decimals of the metric values; counts print as integers.

  Returns:
    A header line, then one line per row (in the table's order), columns
    right-aligned and separated by two spaces, no trailing newline.
  """

  def cell(key: str, value: float) -> str:
    if value is None or math.isnan(value):
      return 'nan'
    if key in COUNT_KEYS:
      return str(int(value))
    return f'{value:.{precision}f}'

  names = ['output', *(str(name) for name in table)]
  rows = [list(columns)] + [
    [cell(key, metrics.get(key)) for key in columns]
    for metrics in table.values()
  ]
  name_width = max(len(name) for name in names)
  widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
  lines = []
  for name, row in zip(names, rows, strict=True):
    cells = [text.rjust(width) for text, width in zip(row, widths, strict=True)]
    lines.append('  '.join([name.ljust(name_width), *cells]))
  return '\n'.join(lines)
