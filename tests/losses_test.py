"""Each loss against hand-computed values, NaN handling and gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from components.config import sweep
from components.model import losses

NAN = np.nan


def _elementwise(name, y, y_hat, **kwargs):
  return losses.per_example_and_target(
    name, tf.constant(y, tf.float32), tf.constant(y_hat, tf.float32), **kwargs
  ).numpy()


def _reduced(name, y, y_hat):
  return float(losses.LOSSES[name](tf.constant(y), tf.constant(y_hat)))


def _ztp(y, y_hat):
  """Zero-truncated Poisson loss in double precision, straight from the
  formula (the y_hat >= -5 branch)."""
  lam = math.exp(y_hat)
  return lam - y * y_hat + math.log(1 - math.exp(-lam))


def test_squared_error_nan_mean_per_target_then_across():
  y_true = [[1.0, NAN], [3.0, 2.0], [NAN, 4.0]]
  y_pred = [[0.0, 9.0], [1.0, 1.0], [5.0, 1.0]]
  # Target 0: errors 1, 4 -> 2.5; target 1: errors 1, 9 -> 5.0.
  # Mean over targets: 3.75 (each target weighs 1/2 whatever its count).
  assert _reduced('SQUARED_ERROR', y_true, y_pred) == pytest.approx(3.75)


def test_cross_entropy_by_hand():
  y, y_hat = [1.0, 0.0, 0.5], [2.0, -1.0, 0.0]
  # max(y_hat, 0) - y_hat * y + log(1 + exp(-|y_hat|)):
  expected = [
    2 - 2 * 1 + math.log1p(math.exp(-2)),
    0 + math.log1p(math.exp(-1)),
    0 - 0 + math.log(2),
  ]
  np.testing.assert_allclose(
    _elementwise('CROSS_ENTROPY', y, y_hat), expected, rtol=1e-6
  )


def test_cross_entropy_reduction_skips_nan_targets():
  y = [[1.0, NAN], [0.0, 1.0]]
  y_hat = [[0.0, 5.0], [0.0, 0.0]]
  # Target 0: log 2 and log 2 -> log 2; target 1: only log 2 -> log 2.
  assert _reduced('CROSS_ENTROPY', y, y_hat) == pytest.approx(math.log(2))


def test_poisson_by_hand():
  y, y_hat = [3.0, 0.0, 1.0], [1.0, -2.0, 0.0]
  # exp(y_hat) - y * y_hat, no Stirling term (so it can be negative).
  expected = [math.exp(1) - 3, math.exp(-2), 1.0]
  np.testing.assert_allclose(
    _elementwise('POISSON_LOSS', y, y_hat), expected, rtol=1e-6
  )


def test_poisson_reduction_counts_zeros_but_not_nan():
  y = [[0.0, 2.0], [NAN, 1.0]]
  y_hat = [[0.0, 0.0], [3.0, 0.0]]
  # Target 0: exp(0) - 0 = 1 (the NaN row is left out) -> 1.
  # Target 1: exp(0) - 2 * 0 = 1 and 1 -> 1. Mean 1.
  assert _reduced('POISSON_LOSS', y, y_hat) == pytest.approx(1.0)


def test_zero_truncated_poisson_by_hand():
  y, y_hat = [3.0, 2.0, 0.0, 1.0], [0.5, -6.0, 1.0, -5.0]
  # y_hat = 0.5: lambda - y * y_hat + log(1 - exp(-lambda)).
  # y_hat = -6 < -5: 0.5 * lambda - (y - 1) * y_hat = 0.5 e^-6 + 6.
  # y = 0: NaN, so the nan-mean ignores zeros.
  # y_hat = -5 is not < -5: the exact form.
  out = _elementwise('ZERO_TRUNCATED_POISSON_LOSS', y, y_hat)
  np.testing.assert_allclose(
    out[[0, 1, 3]],
    [_ztp(3, 0.5), 0.5 * math.exp(-6.0) + 6.0, _ztp(1, -5.0)],
    rtol=1e-5,
    atol=1e-6,  # At y_hat = -5, y = 1 the terms cancel to ~3e-3.
  )
  assert math.isnan(out[2])


def test_zero_truncated_poisson_small_branch_approximates_the_exact_form():
  # log(1 - exp(-lambda)) ~ y_hat - lambda / 2 for small lambda, so the two
  # forms agree closely just below the switch.
  small = _elementwise('ZERO_TRUNCATED_POISSON_LOSS', [4.0], [-5.01])[0]
  assert small == pytest.approx(_ztp(4, -5.01), rel=1e-4)


def test_zero_truncated_poisson_reduction_ignores_zeros_and_nan():
  y = [[3.0, 0.0], [0.0, 2.0], [NAN, 1.0]]
  y_hat = [[0.5, 9.0], [9.0, -6.0], [9.0, 0.0]]
  # Target 0: only row 0 counts -> _ztp(3, 0.5).
  # Target 1: row 1 (small branch, 0.5 e^-6 + 6) and row 2 (_ztp(1, 0)).
  target_1 = (0.5 * math.exp(-6.0) + 6.0 + _ztp(1, 0.0)) / 2
  expected = (_ztp(3, 0.5) + target_1) / 2
  assert _reduced('ZERO_TRUNCATED_POISSON_LOSS', y, y_hat) == pytest.approx(
    expected, rel=1e-5
  )


def test_zero_truncated_poisson_stirling_term():
  y, y_hat = [3.0, 1.0, 0.0], [0.5, 0.5, 0.5]
  full = _elementwise(
    'ZERO_TRUNCATED_POISSON_LOSS', y, y_hat, compute_full_loss=True
  )
  # y * (log y - 1) + 0.5 * log(2 pi y), added only where y > 1.
  stirling = 3 * (math.log(3) - 1) + 0.5 * math.log(2 * math.pi * 3)
  np.testing.assert_allclose(
    full[:2], [_ztp(3, 0.5) + stirling, _ztp(1, 0.5)], rtol=1e-5
  )
  assert math.isnan(full[2])
  loss = losses.make_loss('ZERO_TRUNCATED_POISSON_LOSS', compute_full_loss=True)
  assert float(loss(tf.constant([y]), tf.constant([y_hat]))) == pytest.approx(
    (_ztp(3, 0.5) + stirling + _ztp(1, 0.5)) / 2, rel=1e-5
  )


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_nan_targets_give_no_loss_and_no_nan_gradient(name):
  y = tf.constant([[NAN, 2.0], [1.0, NAN]])
  y_hat = tf.Variable([[0.3, -0.2], [0.1, 0.4]])
  with tf.GradientTape() as tape:
    loss = losses.LOSSES[name](y, y_hat)
  grad = tape.gradient(loss, y_hat).numpy()
  assert np.isfinite(float(loss))
  assert np.isfinite(grad).all()
  assert grad[0, 0] == 0 and grad[1, 1] == 0


def test_zeros_give_no_zero_truncated_poisson_gradient():
  y = tf.constant([[0.0, 2.0]])
  y_hat = tf.Variable([[0.3, -0.2]])
  with tf.GradientTape() as tape:
    loss = losses.LOSSES['ZERO_TRUNCATED_POISSON_LOSS'](y, y_hat)
  grad = tape.gradient(loss, y_hat).numpy()
  assert grad[0, 0] == 0 and grad[0, 1] != 0


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_extreme_predictions_stay_finite(name):
  y = tf.constant([[1.0, 3.0, 0.0, 1.0, 2.0]])
  y_hat = tf.Variable([[-40.0, 30.0, -60.0, 60.0, -1000.0]])
  with tf.GradientTape() as tape:
    loss = losses.LOSSES[name](y, y_hat)
  assert np.isfinite(float(loss))
  assert np.isfinite(tape.gradient(loss, y_hat).numpy()).all()


def test_large_predictions_match_the_finite_math():
  # Naive log(1 + exp(100)) overflows float32; the stable form gives 100.
  np.testing.assert_allclose(
    _elementwise('CROSS_ENTROPY', [0.0, 1.0], [100.0, -100.0]),
    [100.0, 100.0],
    rtol=1e-6,
  )
  # exp(-1000) underflows to 0: the loss is -y * y_hat.
  np.testing.assert_allclose(
    _elementwise('POISSON_LOSS', [2.0], [-1000.0]), [2000.0], rtol=1e-6
  )
  # log(1 - exp(-lambda)) -> 0 for large lambda; for y_hat = -1000 the
  # small branch gives -(y - 1) * y_hat.
  np.testing.assert_allclose(
    _elementwise('ZERO_TRUNCATED_POISSON_LOSS', [2.0, 3.0], [40.0, -1000.0]),
    [math.exp(40.0) - 80.0, 2000.0],
    rtol=1e-5,
  )


def test_skip_normalisation_and_lower_bounds():
  assert not losses.requires_skip_normalisation('SQUARED_ERROR')
  assert not losses.requires_skip_normalisation('CROSS_ENTROPY')
  assert losses.requires_skip_normalisation('POISSON_LOSS')
  assert losses.requires_skip_normalisation('ZERO_TRUNCATED_POISSON_LOSS')
  assert losses.lower_bound('SQUARED_ERROR') == 0.0
  assert losses.lower_bound('CROSS_ENTROPY') == 0.0
  assert losses.lower_bound('POISSON_LOSS') == -math.inf
  assert losses.lower_bound('ZERO_TRUNCATED_POISSON_LOSS') == -math.inf
  sweep.check_model_meta('LATENT_AFFINITY', 'POISSON_LOSS', 'SKIP')
  sweep.check_model_meta('LATENT_AFFINITY', 'SQUARED_ERROR', 'STANDARDIZE')
  with pytest.raises(ValueError, match='needs loss_norm=SKIP'):
    sweep.check_model_meta(
      'LATENT_AFFINITY', 'ZERO_TRUNCATED_POISSON_LOSS', 'STANDARDIZE'
    )


def test_unknown_loss_is_rejected():
  for call in (
    losses.make_loss,
    losses.requires_skip_normalisation,
    losses.lower_bound,
  ):
    with pytest.raises(ValueError, match='loss must be one of'):
      call('HINGE')
