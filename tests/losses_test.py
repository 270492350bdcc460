"""Each loss against hand-computed values, NaN handling and gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from components import losses


def _elementwise(name, y, y_hat):
  return losses.per_example_and_target(
    name, tf.constant(y, tf.float32), tf.constant(y_hat, tf.float32)
  ).numpy()


def test_squared_error_nan_mean_per_target_then_across():
  y_true = tf.constant([[1.0, np.nan], [3.0, 2.0], [np.nan, 4.0]])
  y_pred = tf.constant([[0.0, 9.0], [1.0, 1.0], [5.0, 1.0]])
  # Target 0: errors 1, 4 -> 2.5; target 1: errors 1, 9 -> 5.0.
  assert float(losses.squared_error(y_true, y_pred)) == pytest.approx(3.75)


def test_cross_entropy_by_hand():
  y, y_hat = [1.0, 0.0, 0.5], [2.0, -1.0, 0.0]
  expected = [
    max(2, 0) - 2 * 1 + math.log1p(math.exp(-2)),
    0 + math.log1p(math.exp(-1)),
    0 - 0 + math.log(2),
  ]
  np.testing.assert_allclose(
    _elementwise('CROSS_ENTROPY', y, y_hat), expected, rtol=1e-6
  )


def test_poisson_by_hand():
  y, y_hat = [3.0, 0.0], [1.0, -2.0]
  expected = [math.exp(1) - 3, math.exp(-2)]
  np.testing.assert_allclose(
    _elementwise('POISSON_LOSS', y, y_hat), expected, rtol=1e-6
  )


def test_zero_truncated_poisson_by_hand():
  y, y_hat = [3.0, 2.0, 0.0], [0.5, -6.0, 1.0]
  lam = math.exp(0.5)
  main = lam - 3 * 0.5 + math.log(1 - math.exp(-lam))
  small = 0.5 * math.exp(-6.0) - (2 - 1) * -6.0  # y_hat < -5 branch.
  out = _elementwise('ZERO_TRUNCATED_POISSON_LOSS', y, y_hat)
  np.testing.assert_allclose(out[:2], [main, small], rtol=1e-5)
  assert math.isnan(out[2])  # Zeros are ignored by the nan-mean.


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_nan_targets_give_no_loss_and_no_nan_gradient(name):
  y = tf.constant([[np.nan, 2.0], [1.0, np.nan]])
  y_hat = tf.Variable([[0.3, -0.2], [0.1, 0.4]])
  with tf.GradientTape() as tape:
    loss = losses.LOSSES[name](y, y_hat)
  grad = tape.gradient(loss, y_hat).numpy()
  assert np.isfinite(float(loss))
  assert np.isfinite(grad).all()
  assert grad[0, 0] == 0 and grad[1, 1] == 0


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_extreme_predictions_stay_finite(name):
  y = tf.constant([[1.0, 3.0, 0.0, 1.0]])
  y_hat = tf.Variable([[-40.0, 30.0, -60.0, 60.0]])
  with tf.GradientTape() as tape:
    loss = losses.LOSSES[name](y, y_hat)
  assert np.isfinite(float(loss))
  assert np.isfinite(tape.gradient(loss, y_hat).numpy()).all()


def test_lower_bounds_for_the_divergence_check():
  assert losses.lower_bound('SQUARED_ERROR') == 0.0
  assert losses.lower_bound('CROSS_ENTROPY') == 0.0
  assert losses.lower_bound('POISSON_LOSS') == -math.inf
  assert losses.lower_bound('ZERO_TRUNCATED_POISSON_LOSS') == -math.inf


def test_unknown_loss_is_rejected():
  with pytest.raises(ValueError, match='loss must be one of'):
    losses.make_loss('HINGE')
