"""Training losses with the original's NaN-aware reduction."""

import tensorflow as tf


def _nan_mean(values, axis=None):
  mask = tf.logical_not(tf.math.is_nan(values))
  total = tf.reduce_sum(tf.where(mask, values, 0.0), axis=axis)
  count = tf.reduce_sum(tf.cast(mask, values.dtype), axis=axis)
  # 0/0 gives NaN on purpose: a target with no observed value has no loss.
  return total / count


def reduce_per_target_then_mean(per_example_and_target):
  """nan-mean over the batch for each target, then nan-mean over targets.

  Every target (read column, additional output) gets the same weight,
  whatever its number of non-NaN examples in the batch.
  """
  return _nan_mean(_nan_mean(per_example_and_target, axis=0))


def squared_error(y_true, y_pred):
  """SQUARED_ERROR: (y - y_hat)^2, reduced as the original did."""
  y_true = tf.cast(y_true, y_pred.dtype)
  return reduce_per_target_then_mean(tf.square(y_true - y_pred))
