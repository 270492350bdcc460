"""Training losses (MODEL_SPEC 2.5) with the original's NaN-aware reduction.

Each loss is computed per example and target, NaN where the target is NaN
(unobserved) or, for the zero-truncated Poisson, zero; then averaged over
the batch per target ignoring NaN, then over targets, so every target
(read column or additional output) weighs the same.

NaN targets are replaced by 0 before the elementwise loss and the result
masked afterwards: computing the loss on NaN and masking later would still
send NaN gradients through `tf.where` (0 * NaN = NaN).

`LOSSES` maps each name to its Keras loss; `lower_bound` gives what the
trainer needs to guard against divergence. Which normaliser each loss needs
is configuration (`components.config.sweep.check_model_meta`).
"""

import math
from typing import Callable
from typing import Dict

import tensorflow as tf

from components.config import sweep

# Below this prediction the zero-truncated Poisson switches to its
# small-lambda form, as the original did.
_ZTP_SWITCH = -5.0


def _nan_mean(values, axis=None):
  mask = tf.logical_not(tf.math.is_nan(values))
  total = tf.reduce_sum(tf.where(mask, values, 0.0), axis=axis)
  count = tf.reduce_sum(tf.cast(mask, values.dtype), axis=axis)
  # 0/0 gives NaN on purpose: a target with no observed value has no loss.
  return total / count


def reduce_per_target_then_mean(per_example_and_target):
  """nan-mean over the batch for each target, then nan-mean over targets."""
  return _nan_mean(_nan_mean(per_example_and_target, axis=0))


def squared_error_elementwise(y, y_hat):
  """SQUARED_ERROR: (y - y_hat)^2."""
  return tf.square(y - y_hat)


def cross_entropy_elementwise(y, y_hat):
  """CROSS_ENTROPY: sigmoid cross-entropy of logits y_hat with labels y,
  max(y_hat, 0) - y_hat * y + log(1 + exp(-|y_hat|)) (stable form)."""
  return tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_hat)


def poisson_elementwise(y, y_hat):
  """POISSON_LOSS: exp(y_hat) - y * y_hat (log-rate input, no Stirling)."""
  return tf.nn.log_poisson_loss(y, y_hat, compute_full_loss=False)


def zero_truncated_poisson_elementwise(y, y_hat, compute_full_loss=False):
  """ZERO_TRUNCATED_POISSON_LOSS, NaN where y < 1 (zeros are ignored).

  With lambda = exp(y_hat): lambda - y * y_hat + log(1 - exp(-lambda)); for
  y_hat < -5, where log(1 - exp(-lambda)) ~ y_hat - lambda / 2, the form
  0.5 * lambda - (y - 1) * y_hat. Each branch sees only inputs in its own
  range, so neither feeds NaN or inf into the gradient.

  Args:
    y: raw counts (loss_norm=SKIP).
    y_hat: predicted log-rates.
    compute_full_loss: add the Stirling approximation of log(y!),
      y * (log(y) - 1) + 0.5 * log(2 * pi * y), where y > 1, as the
      original's flag did. It is constant in y_hat, so it changes only the
      reported loss, not the gradients.

  Returns:
    The loss per element, NaN where y < 1.
  """
  high = tf.maximum(y_hat, _ZTP_SWITCH)
  low = tf.minimum(y_hat, _ZTP_SWITCH)
  lam_high = tf.exp(high)
  main = lam_high - y * high + tf.math.log(-tf.math.expm1(-lam_high))
  small = 0.5 * tf.exp(low) - (y - 1.0) * low
  loss = tf.where(y_hat < _ZTP_SWITCH, small, main)
  if compute_full_loss:
    # log(y) only sees y > 1, so the unused branch is never log(0).
    y_big = tf.maximum(y, 1.0)
    stirling = y_big * (tf.math.log(y_big) - 1.0) + 0.5 * tf.math.log(
      2.0 * math.pi * y_big
    )
    loss += tf.where(y > 1.0, stirling, 0.0)
  return tf.where(y < 1.0, tf.constant(math.nan, loss.dtype), loss)


_ELEMENTWISE: Dict[str, Callable] = {
  'SQUARED_ERROR': squared_error_elementwise,
  'CROSS_ENTROPY': cross_entropy_elementwise,
  'POISSON_LOSS': poisson_elementwise,
  'ZERO_TRUNCATED_POISSON_LOSS': zero_truncated_poisson_elementwise,
}


def _check_name(name: str) -> None:
  if name not in _ELEMENTWISE:
    raise ValueError(
      f'loss must be one of {sorted(_ELEMENTWISE)}, got {name!r}'
    )


def per_example_and_target(
  name: str, y_true, y_pred, compute_full_loss: bool = False
):
  """The elementwise loss `name`, NaN where the target is NaN.

  Args:
    name: a key of `LOSSES`.
    y_true: normalised targets [batch, targets], NaN where unobserved.
    y_pred: predictions [batch, targets].
    compute_full_loss: Stirling term of ZERO_TRUNCATED_POISSON_LOSS (ignored
      by the other losses).

  Returns:
    The loss per example and target; NaN entries are left out of the mean.
  """
  _check_name(name)
  y_pred = tf.convert_to_tensor(y_pred)
  y_true = tf.cast(y_true, y_pred.dtype)
  missing = tf.math.is_nan(y_true)
  y_safe = tf.where(missing, tf.zeros_like(y_true), y_true)
  if name == 'ZERO_TRUNCATED_POISSON_LOSS':
    values = zero_truncated_poisson_elementwise(
      y_safe, y_pred, compute_full_loss
    )
  else:
    values = _ELEMENTWISE[name](y_safe, y_pred)
  return tf.where(missing, tf.constant(math.nan, values.dtype), values)


def make_loss(name: str, compute_full_loss: bool = False) -> Callable:
  """A Keras loss function for `name`, reduced as the original did.

  Args:
    name: a key of `LOSSES`.
    compute_full_loss: Stirling term of ZERO_TRUNCATED_POISSON_LOSS.

  Returns:
    `loss(y_true, y_pred)` -> scalar: the per-target nan-mean over the batch,
    then the nan-mean over targets.

  Raises:
    ValueError: `name` is not a known loss.
  """
  _check_name(name)

  def loss(y_true, y_pred):
    return reduce_per_target_then_mean(
      per_example_and_target(name, y_true, y_pred, compute_full_loss)
    )

  loss.__name__ = name.lower()
  return loss


LOSSES: Dict[str, Callable] = {name: make_loss(name) for name in _ELEMENTWISE}


def requires_skip_normalisation(name: str) -> bool:
  """Whether loss `name` needs loss_norm=SKIP (the two Poisson losses)."""
  _check_name(name)
  return name in sweep.SKIP_NORMALISATION_LOSSES


def lower_bound(name: str) -> float:
  """Smallest valid loss, for the divergence check: 0, or -inf for the
  Poisson losses, which can go negative without the Stirling term."""
  return -math.inf if requires_skip_normalisation(name) else 0.0
