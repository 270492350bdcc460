"""The TFMA rank metric, run in Beam, against scipy/sklearn on the same data."""

import beam_combine
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk_metrics
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

from components.evaluation import rank_metrics
from components.evaluation import tfma_metrics

OUTPUTS = ['reads_a', 'reads_b', 'all_zero']


def _data(n=3000, seed=0):
  rng = np.random.default_rng(seed)
  labels = np.stack(
    [
      rng.poisson(rng.gamma(0.3, 4.0, n)),  # Heavy ties, many zeros.
      rng.poisson(1.0, n),
      np.zeros(n),  # No positives at all: AUC undefined, must not crash.
    ],
    axis=1,
  ).astype(np.float64)
  predictions = labels + rng.normal(0, 2.0, labels.shape)
  predictions[rng.random(n) < 0.01, 1] = np.nan  # Reported, not fatal.
  return labels, predictions


def _eval_config():
  return tfma.EvalConfig(
    model_specs=[tfma.ModelSpec(label_keys={o: o for o in OUTPUTS})]
  )


def _inputs(labels, predictions):
  for row_labels, row_predictions in zip(labels, predictions):
    yield metric_types.StandardMetricInputs(
      labels={o: np.array([v]) for o, v in zip(OUTPUTS, row_labels)},
      predictions={o: np.array([v]) for o, v in zip(OUTPUTS, row_predictions)},
      example_weights=None,
    )


def _combine_in_beam(computation, labels, predictions):
  """The computation's combiner over the inputs, in a Beam pipeline."""
  return beam_combine.combine_globally(
    computation.combiner, _inputs(labels, predictions)
  )


def _run_in_beam(labels, predictions):
  metric = tfma_metrics.AptamerRankMetrics(outputs=OUTPUTS)
  [computation] = metric.computations(
    eval_config=_eval_config(), model_names=['']
  )
  result = _combine_in_beam(computation, labels, predictions)
  return {(k.output_name, k.name): v for k, v in result.items()}


@pytest.fixture(scope='module')
def computed():
  labels, predictions = _data()
  return labels, predictions, _run_in_beam(labels, predictions)


def test_auc_matches_sklearn(computed):
  labels, predictions, result = computed
  for i, output in enumerate(OUTPUTS[:2]):
    keep = ~np.isnan(predictions[:, i])
    y, p = labels[keep, i], predictions[keep, i]
    nonzero = y[y != 0]
    top = y > np.percentile(nonzero, 99)
    expected = sk_metrics.roc_auc_score(top, p)
    assert result[(output, 'auc/true_top_1p')] == pytest.approx(expected, 1e-9)


def test_correlations_match_scipy(computed):
  labels, predictions, result = computed
  for i, output in enumerate(OUTPUTS[:2]):
    keep = ~np.isnan(predictions[:, i])
    y, p = labels[keep, i], predictions[keep, i]
    assert result[(output, 'spearman_correlation/score_all')] == pytest.approx(
      stats.spearmanr(y, p).correlation, 1e-9
    )
    assert result[(output, 'pearson_correlation/score_all')] == pytest.approx(
      stats.pearsonr(y, p)[0], 1e-9
    )


def test_all_zero_output_and_nan_predictions_are_reported(computed):
  labels, predictions, result = computed
  assert np.isnan(result[('all_zero', 'auc/true_top_1p')])
  assert (
    result[('reads_b', 'nan_predictions')]
    == np.isnan(predictions[:, 1]).sum()
    > 0
  )
  assert result[('reads_a', 'count')] == len(labels)


def test_every_value_equals_the_numpy_implementation(computed):
  labels, predictions, result = computed
  table = rank_metrics.evaluation_table(labels, predictions, OUTPUTS)
  for output, row in table.items():
    key = '' if output == rank_metrics.MEAN_ROW else output
    for metric, value in row.items():
      np.testing.assert_equal(result[(key, metric)], value)
  # The key thresholds address: the mean over outputs, output name ''.
  assert ('', tfma_metrics.DEFAULT_NAME) in result


def test_bad_configuration_is_rejected():
  with pytest.raises(ValueError, match='needs at least one output'):
    tfma_metrics.AptamerRankMetrics(outputs=[])
  with pytest.raises(ValueError, match='name must be one of'):
    tfma_metrics.AptamerRankMetrics(outputs=['a'], name='accuracy')


def test_only_named_emits_just_the_thresholded_mean():
  labels, predictions = _data(n=500, seed=1)
  metric = tfma_metrics.AptamerRankMetrics(
    outputs=OUTPUTS, name='spearman_correlation/score_all', only_named=True
  )
  [computation] = metric.computations(
    eval_config=_eval_config(), model_names=['']
  )
  assert [(k.output_name, k.name) for k in computation.keys] == [
    ('', 'spearman_correlation/score_all')
  ]
  result = _combine_in_beam(computation, labels, predictions)
  table = rank_metrics.evaluation_table(labels, predictions, OUTPUTS)
  assert list(result.values()) == [
    table['mean']['spearman_correlation/score_all']
  ]


def _element(labels, predictions, model_name=''):
  """StandardMetricInputs as TFMA builds them (predictions keyed by model
  when several models are evaluated)."""
  if model_name:
    predictions = {model_name: predictions}
  return metric_types.StandardMetricInputs(
    labels=labels, predictions=predictions, example_weights=None
  )


def _conversion_cases():
  one = lambda v, dtype=np.float64: np.array([v], dtype)  # noqa: E731
  plain = {'reads_a': one(3.0), 'reads_b': one(0, np.int64)}
  predicted = {'reads_a': one(0.25, np.float32), 'reads_b': one(np.nan)}
  return {
    # The shape every aptamer model gives: read directly.
    'plain': ([_element(plain, predicted)], '', True),
    'baseline model': (
      [_element(plain, predicted, 'baseline')],
      'baseline',
      True,
    ),
    'labels keyed by model': (
      [_element({'candidate': plain}, predicted, 'candidate')],
      'candidate',
      True,
    ),
    # Several examples of one slice (slice_batches): read as vectors.
    'two examples': (
      [
        _element(
          {k: np.repeat(v, 2) for k, v in plain.items()},
          {k: np.repeat(v, 2) for k, v in predicted.items()},
        )
      ],
      '',
      True,
    ),
    # Anything else: TFMA's conversion.
    'prediction [1, 1]': (
      [_element(plain, {k: v.reshape(1, 1) for k, v in predicted.items()})],
      '',
      False,
    ),
    'two examples, predictions [2, 1]': (
      [
        _element(
          {k: np.repeat(v, 2) for k, v in plain.items()},
          {k: np.repeat(v, 2).reshape(2, 1) for k, v in predicted.items()},
        )
      ],
      '',
      False,
    ),
  }


@pytest.mark.parametrize('case', list(_conversion_cases()))
def test_direct_reads_equal_tfma_conversion(case, monkeypatch):
  elements, model_name, direct = _conversion_cases()[case]
  outputs = ['reads_a', 'reads_b']
  config = tfma.EvalConfig(
    model_specs=[tfma.ModelSpec(label_keys={o: o for o in outputs})]
  )
  [computation] = tfma_metrics.AptamerRankMetrics(outputs=outputs).computations(
    eval_config=config, model_names=[model_name]
  )
  combiner = computation.combiner
  expected = {o: ([], []) for o in outputs}
  for element in elements:
    for output in outputs:
      for y, p in combiner._tfma_pairs(element, output):
        expected[output][0].append(y)
        expected[output][1].append(p)
  converted = []
  tfma_pairs = combiner._tfma_pairs
  monkeypatch.setattr(
    combiner,
    '_tfma_pairs',
    lambda e, o: converted.append(o) or tfma_pairs(e, o),
  )
  acc = combiner.create_accumulator()
  for element in elements:
    acc = combiner.add_input(acc, element)
  np.testing.assert_equal(
    {o: tuple(list(column) for column in acc[o]) for o in outputs}, expected
  )
  assert (not converted) == direct, converted
