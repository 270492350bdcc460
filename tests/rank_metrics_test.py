"""Tests of components.evaluation.rank_metrics against scipy, sklearn and hand values."""

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as skm

from components.evaluation import rank_metrics as rm

LOG2 = math.log2


def _counts(rng, n, zero_fraction=0.6):
  """Integer counts with many zeros and heavy ties, like sequencing counts."""
  counts = rng.negative_binomial(1, 0.3, size=n).astype(float)
  counts[rng.random(n) < zero_fraction] = 0
  return counts


def _sk_auc(labels, scores):
  if labels.all() or not labels.any():
    return math.nan
  return skm.roc_auc_score(labels, scores)


def _scipy_corr(func, x, y):
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    return func(x, y)[0]


def _assert_close(actual, expected, rtol=1e-9, atol=1e-12):
  if math.isnan(expected):
    assert math.isnan(actual), actual
  else:
    assert actual == pytest.approx(expected, rel=rtol, abs=atol)


# ----------------------------------------------------------------------------
# Thresholders.


def test_top_fraction_threshold_hand_examples():
  values = np.array([0, 0, 1, 2, 3, 4, 5], dtype=float)
  # Nonzero [1..5]; 75th percentile is exactly 4, and the test is strict.
  np.testing.assert_array_equal(
    rm.top_fraction_threshold(values, 0.25), [0, 0, 0, 0, 0, 0, 1]
  )
  # Median of [1..5] is 3.
  np.testing.assert_array_equal(
    rm.top_fraction_threshold(values, 0.5), [0, 0, 0, 0, 0, 1, 1]
  )
  # Linear interpolation: 90th percentile of 1..10 is 9.1.
  ten = np.arange(1, 11, dtype=float)
  np.testing.assert_array_equal(rm.top_fraction_threshold(ten, 0.1), ten > 9.1)
  # Zeros never count towards the percentile, negatives do (as originally):
  # the median of [-3, 1] is -1, so the zeros themselves pass.
  np.testing.assert_array_equal(
    rm.top_fraction_threshold(np.array([-3.0, 0, 0, 0, 1]), 0.5),
    [False, True, True, True, True],
  )


def test_top_fraction_threshold_all_zero_and_empty():
  assert not rm.top_fraction_threshold(np.zeros(5), 0.01).any()
  assert rm.top_fraction_threshold(np.zeros(0), 0.01).shape == (0,)


def test_top_fraction_threshold_matches_percentile_rule():
  rng = np.random.default_rng(0)
  values = _counts(rng, 5000)
  for name, fraction in rm.TOP_FRACTIONS.items():
    nonzero = values[values != 0]
    expected = values > np.percentile(nonzero, 100 * (1 - fraction))
    np.testing.assert_array_equal(
      rm.top_fraction_threshold(values, fraction), expected
    )
    np.testing.assert_array_equal(rm.THRESHOLDERS[name](values), expected)


def test_nonzero_threshold():
  np.testing.assert_array_equal(
    rm.nonzero_threshold([0, 0.5, 1, 7]), [False, False, True, True]
  )
  np.testing.assert_array_equal(
    rm.THRESHOLDERS['nonzero'](np.array([0.0, 2.0])), [False, True]
  )


# ----------------------------------------------------------------------------
# AUC and correlations against sklearn and scipy.


@pytest.mark.parametrize('seed', range(5))
def test_roc_auc_matches_sklearn_with_heavy_ties(seed):
  rng = np.random.default_rng(seed)
  n = 2000
  labels = rng.random(n) < 0.1
  # Integer scores: most examples tie with many others.
  tied = rng.integers(0, 5, size=n).astype(float) + labels
  continuous = rng.normal(size=n) + labels
  for scores in (tied, continuous):
    _assert_close(rm.roc_auc(labels, scores), skm.roc_auc_score(labels, scores))


def test_roc_auc_degenerate():
  assert math.isnan(rm.roc_auc(np.zeros(10, bool), np.arange(10)))
  assert math.isnan(rm.roc_auc(np.ones(10, bool), np.arange(10)))
  assert math.isnan(rm.roc_auc(np.zeros(0, bool), np.zeros(0)))
  # Constant scores: every pair is a tie.
  labels = np.array([0, 1, 0, 1], bool)
  assert rm.roc_auc(labels, np.ones(4)) == 0.5
  assert rm.roc_auc([True, False], [2.0, 1.0]) == 1.0


@pytest.mark.parametrize('seed', range(5))
def test_correlations_match_scipy(seed):
  rng = np.random.default_rng(seed)
  actual = _counts(rng, 3000)
  predicted_tied = np.round(actual * rng.random(3000) * 3)
  predicted = np.log1p(actual) + rng.normal(size=3000)
  for pred in (predicted, predicted_tied):
    _assert_close(
      rm.spearman(actual, pred), scipy.stats.spearmanr(actual, pred)[0]
    )
    _assert_close(
      rm.pearson(actual, pred), scipy.stats.pearsonr(actual, pred)[0]
    )


def test_correlations_nan_for_constant_and_tiny_inputs():
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    assert math.isnan(rm.spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert math.isnan(rm.pearson([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert math.isnan(rm.pearson([0.0, 0.0], [1.0, 2.0]))
    assert math.isnan(rm.spearman([1.0], [2.0]))
    assert math.isnan(rm.pearson([], []))
  assert rm.pearson([1.0, 2.0], [3.0, 1.0]) == pytest.approx(-1.0)
  assert rm.spearman([1.0, 2.0], [1.0, 3.0]) == pytest.approx(1.0)


# ----------------------------------------------------------------------------
# DCG.


def test_dcg_hand_example():
  actual = np.array([3.0, 2.0, 0.0, 1.0])
  predicted = np.array([0.1, 0.4, 0.3, 0.2])
  # Predicted order: relevances 2, 0, 1, 3.
  dcg = 2 / LOG2(2) + 0 / LOG2(3) + 1 / LOG2(4) + 3 / LOG2(5)
  idcg = 3 / LOG2(2) + 2 / LOG2(3) + 1 / LOG2(4) + 0 / LOG2(5)
  wdcg = 0 / LOG2(2) + 1 / LOG2(3) + 2 / LOG2(4) + 3 / LOG2(5)
  assert rm.dcg(actual, predicted) == pytest.approx(dcg)
  assert rm.normalized_dcg(actual, predicted) == pytest.approx(dcg / idcg)
  assert rm.scaled_dcg(actual, predicted) == pytest.approx(
    (dcg - wdcg) / (idcg - wdcg)
  )
  # Top two positions only.
  assert rm.dcg(actual, predicted, top_n=2) == pytest.approx(2.0)
  assert rm.scaled_dcg(actual, predicted, top_n=2) == pytest.approx(
    (2 - 1 / LOG2(3)) / (3 + 2 / LOG2(3) - 1 / LOG2(3))
  )
  # Perfect and reversed orderings.
  assert rm.scaled_dcg(actual, actual) == 1.0
  assert rm.scaled_dcg(actual, -actual) == 0.0
  assert rm.normalized_dcg(actual, actual) == 1.0


def test_dcg_ties_keep_input_order():
  # Stable: the first of two tied predictions is ranked first.
  assert rm.dcg([1.0, 5.0], [0.5, 0.5]) == pytest.approx(1 + 5 / LOG2(3))
  assert rm.dcg([5.0, 1.0], [0.5, 0.5]) == pytest.approx(5 + 1 / LOG2(3))


def test_dcg_top_frac_positions():
  actual = np.arange(250, dtype=float)
  predicted = actual.copy()
  # round(0.01 * 250) = round(2.5) = 2 (half to even).
  assert rm.dcg(actual, predicted, top_frac=0.01) == pytest.approx(
    249 + 248 / LOG2(3)
  )
  # Fewer than 50 examples: round() gives 0, at least one position is used.
  assert rm.dcg([1.0, 3.0], [0.0, 1.0], top_frac=0.01) == 3.0
  with pytest.raises(ValueError):
    rm.dcg([1.0], [1.0], top_n=1, top_frac=0.5)


@pytest.mark.parametrize('seed', range(3))
def test_dcg_matches_sklearn(seed):
  rng = np.random.default_rng(seed)
  actual = _counts(rng, 1000)
  # Distinct scores, so every tie rule orders them the same way.
  predicted = np.log1p(actual) + rng.normal(size=1000)
  for k in (None, 1, 10, 100):
    _assert_close(
      rm.dcg(actual, predicted, top_n=k),
      skm.dcg_score([actual], [predicted], k=k),
    )
    _assert_close(
      rm.normalized_dcg(actual, predicted, top_n=k),
      skm.ndcg_score([actual], [predicted], k=k),
    )
  _assert_close(
    rm.normalized_dcg(actual, predicted, top_frac=0.01),
    skm.ndcg_score([actual], [predicted], k=10),
  )


def test_scaled_dcg_bounds_are_best_and_worst_permutations():
  rng = np.random.default_rng(7)
  actual = np.array([0.0, 0.0, 1.0, 3.0, 3.0, 8.0])
  dcgs = [
    rm.dcg(actual, np.array(p, dtype=float))
    for p in itertools.permutations(range(actual.size))
  ]
  predicted = rng.normal(size=actual.size)
  dcg = rm.dcg(actual, predicted)
  _assert_close(
    rm.scaled_dcg(actual, predicted),
    (dcg - min(dcgs)) / (max(dcgs) - min(dcgs)),
  )


def test_dcg_degenerate():
  assert math.isnan(rm.scaled_dcg([4.0], [1.0]))
  assert rm.normalized_dcg([4.0], [1.0]) == 1.0
  assert math.isnan(rm.scaled_dcg([2.0, 2.0, 2.0], [1.0, 3.0, 2.0]))
  assert math.isnan(rm.normalized_dcg([0.0, 0.0], [1.0, 2.0]))
  assert rm.dcg([], []) == 0.0


# ----------------------------------------------------------------------------
# Enrichment.


def test_enrichment_hand_example():
  true = np.zeros(100, bool)
  true[:10] = True
  pred = np.zeros(100, bool)
  pred[5:25] = True  # 20 predicted, 5 of them true.
  assert rm.enrichment(true, pred) == pytest.approx((5 / 20) / (10 / 100))
  # Nine predicted positives are too few.
  pred9 = np.zeros(100, bool)
  pred9[:9] = True
  assert math.isnan(rm.enrichment(true, pred9))
  assert rm.enrichment(true, pred9, minimum_size=9) == pytest.approx(10.0)
  assert math.isnan(rm.enrichment(np.zeros(100, bool), pred))


# ----------------------------------------------------------------------------
# Per-output metrics.


def _reference_output_metrics(actual, predicted):
  """Straightforward per-metric reference built on scipy and sklearn."""
  valid = ~(np.isnan(actual) | np.isnan(predicted))
  y, s = actual[valid], predicted[valid]
  ref = {}
  for name, fraction in rm.TOP_FRACTIONS.items():
    labels = y > np.percentile(y[y != 0], 100 * (1 - fraction))
    ref[f'auc/true_{name}'] = _sk_auc(labels, s)
  top = s > np.percentile(s[s != 0], 99)
  for subset_name, subset in (('all', np.ones(y.size, bool)), ('top_1p', top)):
    ref[f'spearman_correlation/score_{subset_name}'] = _scipy_corr(
      scipy.stats.spearmanr, y[subset], s[subset]
    )
    ref[f'pearson_correlation/score_{subset_name}'] = _scipy_corr(
      scipy.stats.pearsonr, y[subset], s[subset]
    )
  return ref


@pytest.mark.parametrize('seed', range(3))
def test_output_metrics_matches_references(seed):
  rng = np.random.default_rng(seed)
  n = 20000
  actual = _counts(rng, n)
  predicted = np.log1p(actual) + rng.normal(scale=0.7, size=n)
  actual[rng.random(n) < 0.01] = np.nan
  predicted[rng.random(n) < 0.02] = np.nan
  result = rm.output_metrics(actual, predicted)

  assert tuple(result) == rm.OUTPUT_KEYS
  assert result['count'] == np.count_nonzero(~np.isnan(actual))
  assert result['nan_predictions'] == np.count_nonzero(np.isnan(predicted))
  for key, expected in _reference_output_metrics(actual, predicted).items():
    _assert_close(result[key], expected)

  valid = ~(np.isnan(actual) | np.isnan(predicted))
  y, s = actual[valid], predicted[valid]
  top = rm.top_fraction_threshold(s, 0.01)
  _assert_close(result['scaled_dcg/score_all'], rm.scaled_dcg(y, s))
  _assert_close(
    result['scaled_dcg/score_top_1p'], rm.scaled_dcg(y[top], s[top])
  )
  _assert_close(
    result['scaled_dcg_top_1p/score_all'], rm.scaled_dcg(y, s, top_frac=0.01)
  )
  _assert_close(result['normalized_dcg/score_all'], skm.ndcg_score([y], [s]))
  _assert_close(
    result['normalized_dcg_top_1p/score_all'],
    skm.ndcg_score([y], [s], k=int(round(0.01 * y.size))),
  )
  _assert_close(
    result['enrichment/true_top_1p_score_top_1p'],
    rm.enrichment(rm.top_fraction_threshold(y, 0.01), top),
  )
  assert result['enrichment/true_top_1p_score_top_1p'] > 1


def test_output_metrics_all_zero_actual():
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    result = rm.output_metrics(
      np.zeros(500), np.random.default_rng(0).random(500)
    )
  for name in rm.TOP_FRACTIONS:
    assert math.isnan(result[f'auc/true_{name}'])
  assert math.isnan(result['spearman_correlation/score_all'])
  assert math.isnan(result['scaled_dcg/score_all'])
  assert math.isnan(result['normalized_dcg/score_all'])
  assert result['count'] == 500


def test_output_metrics_constant_predictions():
  rng = np.random.default_rng(1)
  actual = _counts(rng, 3000)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    result = rm.output_metrics(actual, np.full(3000, 0.25))
  assert result['auc/true_top_1p'] == 0.5
  assert math.isnan(result['spearman_correlation/score_all'])
  assert math.isnan(result['pearson_correlation/score_all'])
  # No prediction exceeds the percentile of identical values.
  assert math.isnan(result['spearman_correlation/score_top_1p'])
  assert math.isnan(result['enrichment/true_top_1p_score_top_1p'])
  # Ties keep input order, so DCG is that of the input order.
  _assert_close(
    result['scaled_dcg/score_all'],
    rm.scaled_dcg(actual, np.arange(3000, 0, -1.0)),
  )


def test_output_metrics_nan_predictions_dropped_and_counted():
  actual = np.array([0, 1, 2, 3, 4, 5, np.nan, 7.0])
  predicted = np.array([0.0, np.nan, 2, 3, np.nan, 5, 6, 7])
  result = rm.output_metrics(actual, predicted)
  assert result['count'] == 7
  assert result['nan_predictions'] == 2
  keep = [0, 2, 3, 5, 7]
  _assert_close(
    result['spearman_correlation/score_all'],
    rm.spearman(actual[keep], predicted[keep]),
  )
  assert result['spearman_correlation/score_all'] == pytest.approx(1.0)

  all_nan = rm.output_metrics(np.arange(5.0), np.full(5, np.nan))
  assert all(math.isnan(all_nan[key]) for key in rm.METRIC_KEYS)
  assert all_nan['count'] == 5 and all_nan['nan_predictions'] == 5


@pytest.mark.parametrize('n', [0, 1, 2])
def test_output_metrics_tiny_inputs(n):
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    result = rm.output_metrics(np.arange(n, dtype=float), np.arange(n) * 2.0)
  assert set(result) == set(rm.OUTPUT_KEYS)
  assert result['count'] == n
  if n == 2:
    # Only [1] is nonzero; nothing is strictly above its own percentile.
    assert math.isnan(result['auc/true_top_1p'])
    assert result['spearman_correlation/score_all'] == pytest.approx(1.0)
    assert result['scaled_dcg/score_all'] == 1.0


# ----------------------------------------------------------------------------
# Table and mean row.


def _table_inputs():
  rng = np.random.default_rng(3)
  n = 5000
  actual = np.stack([_counts(rng, n) for _ in range(3)], axis=1)
  predicted = np.log1p(actual) + rng.normal(size=actual.shape)
  predicted[:, 1] = np.nan  # A diverged output.
  predicted[:10, 2] = np.nan
  return actual, predicted


def test_evaluation_table_mean_row():
  actual, predicted = _table_inputs()
  table = rm.evaluation_table(actual, predicted, ['a', 'b', 'c'])
  assert list(table) == ['a', 'b', 'c', 'mean']
  for j, name in enumerate(['a', 'c']):
    col = [0, 2][j]
    assert table[name] == rm.output_metrics(actual[:, col], predicted[:, col])
  assert all(math.isnan(table['b'][key]) for key in rm.METRIC_KEYS)
  for key in rm.METRIC_KEYS:
    values = [table['a'][key], table['c'][key]]
    _assert_close(table['mean'][key], float(np.nanmean(values)), rtol=1e-12)
  assert table['mean']['count'] == table['a']['count'] + table['c']['count']
  assert table['mean']['nan_predictions'] == 5000 + 10


def test_evaluation_table_mean_ignores_nan_metric():
  actual = np.stack([np.zeros(200), np.arange(200.0)], axis=1)
  predicted = np.stack([np.arange(200.0), np.arange(200.0)], axis=1)
  table = rm.evaluation_table(actual, predicted, ['zero', 'good'])
  assert math.isnan(table['zero']['auc/true_top_1p'])
  assert table['mean']['auc/true_top_1p'] == table['good']['auc/true_top_1p']


def test_evaluation_table_all_outputs_diverged():
  actual = np.ones((4, 2))
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    table = rm.evaluation_table(actual, np.full((4, 2), np.nan), ['x', 'y'])
  assert all(math.isnan(table['mean'][key]) for key in rm.METRIC_KEYS)
  assert table['mean']['count'] == 0
  assert table['mean']['nan_predictions'] == 8


def test_evaluation_table_rejects_bad_names():
  with pytest.raises(ValueError):
    rm.evaluation_table(np.ones((3, 2)), np.ones((3, 2)), ['a'])
  with pytest.raises(ValueError):
    rm.evaluation_table(np.ones((3, 1)), np.ones((3, 1)), ['mean'])


def test_format_table():
  actual, predicted = _table_inputs()
  table = rm.evaluation_table(actual, predicted, ['a', 'b', 'c'])
  text = rm.format_table(table)
  lines = text.split('\n')
  assert len(lines) == 5
  assert len({len(line) for line in lines}) == 1  # Fixed width.
  assert lines[0].split() == ['output', *rm.DEFAULT_REPORT_COLUMNS]
  assert lines[2].split()[0] == 'b' and lines[2].split()[1] == 'nan'
  mean = lines[4].split()
  assert mean[0] == 'mean'
  assert mean[1] == f'{table["mean"]["auc/true_top_1p"]:.4f}'
  assert mean[-1] == '5010'
