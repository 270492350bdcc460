"""Keras callbacks for the playbook's training semantics.

* `DivergenceGuard`: stops a run whose loss diverged (NaN, above the
  original's MAX_COST of 5e3, or below the loss's lower bound) with an error
  instead of exporting garbage.
* `BestEpochKeeper`: every `interval` epochs, keeps the weights with the
  lowest validation loss, so the exported model is the best one (the
  original's `model.ckpt-lowest_val_loss`), and says which epoch it was.
"""

import math
from typing import Optional

import keras

MAX_COST = 5e3


class TrainingDivergedError(RuntimeError):
  """The training loss left its valid range."""


class DivergenceGuard(keras.callbacks.Callback):
  """Raises TrainingDivergedError when a batch loss is out of range.

  Args:
    lower_bound: smallest valid loss (0 for squared error and
      cross-entropy; -inf for the Poisson losses).
    upper_bound: largest valid loss (the original's MAX_COST).
  """

  def __init__(self, lower_bound: float = 0.0, upper_bound: float = MAX_COST):
    super().__init__()
    self._lower = lower_bound
    self._upper = upper_bound
    self._epoch = 0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get('loss')
    if loss is None:
      return
    loss = float(loss)
    if math.isnan(loss) or loss > self._upper or loss < self._lower:
      raise TrainingDivergedError(
        f'training diverged in epoch {self._epoch + 1}, batch {batch + 1}: '
        f'loss {loss} is outside [{self._lower}, {self._upper}]; try a '
        'lower learning rate'
      )


class BestEpochKeeper(keras.callbacks.Callback):
  """Remembers the weights of the epoch with the lowest validation loss.

  Args:
    interval: compare every `interval` epochs (epoch numbers divisible by
      it, counting from 1), as the original's `epoch_interval_to_save_best`.
  """

  def __init__(self, interval: int):
    super().__init__()
    if interval < 1:
      raise ValueError(f'epoch_interval_to_save_best must be >= 1: {interval}')
    self._interval = interval
    self.best_epoch: Optional[int] = None
    self.best_loss = math.inf
    self._weights = None

  def on_epoch_end(self, epoch, logs=None):
    if (epoch + 1) % self._interval:
      return
    loss = float((logs or {}).get('val_loss', math.nan))
    if loss < self.best_loss:  # False for NaN.
      self.best_loss = loss
      self.best_epoch = epoch + 1
      self._weights = self.model.get_weights()

  def restore_best(self) -> Optional[int]:
    """Loads the best weights into the model; returns their epoch (or None
    when no epoch was compared, e.g. fewer epochs than the interval)."""
    if self._weights is not None:
      self.model.set_weights(self._weights)
    return self.best_epoch
