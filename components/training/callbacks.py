"""Keras callbacks for the playbook's training semantics.

* `DivergenceGuard`: stops a run whose loss diverged (NaN, above the
  original's MAX_COST of 5e3, or below the loss's lower bound) with an error
  instead of exporting garbage.
* `EpochTrainingLoss`: logs the epoch's training loss where Keras, running
  several steps per execution, left it out.
* `BestEpochKeeper`: every `interval` epochs, keeps the weights with the
  best validation metric (the original's `model.ckpt-lowest_val_loss`
  compared the loss), so the exported model is the best one, and says which
  epoch it was.
* `StabilityWatch`: prints a line at each epoch whose evaluation makes the
  run look unstable (`components/training/stability.py`).
"""

import math
from typing import Callable
from typing import List
from typing import Optional

from absl import logging
import keras

from components.config import training as training_lib
from components.training import stability

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
    # With several steps per execution, Keras calls this once per execution
    # (`batch` is that execution's first step), with the epoch's running
    # mean loss, which a NaN step keeps NaN.
    self._check((logs or {}).get('loss'), f'batch {batch + 1}')

  def on_epoch_end(self, epoch, logs=None):
    # An epoch shorter than one execution returns no batch logs at all.
    self._check(_tracked_loss(self.model), 'its last batch')

  def _check(self, loss, where: str) -> None:
    if loss is None:
      return
    loss = float(loss)
    if math.isnan(loss) or loss > self._upper or loss < self._lower:
      raise TrainingDivergedError(
        f'training diverged in epoch {self._epoch + 1}, {where}: '
        f'loss {loss} is outside [{self._lower}, {self._upper}]; try a '
        'lower learning rate'
      )


def _tracked_loss(model) -> Optional[float]:
  """The mean training loss of the epoch so far, from the loss tracker."""
  if model is None:
    return None
  value = model.get_metrics_result().get('loss')
  return None if value is None else float(value)


class EpochTrainingLoss(keras.callbacks.Callback):
  """Logs the epoch's training loss where Keras left it out.

  With several steps per execution, an epoch that runs out of data inside
  its first execution (fewer batches than `steps_per_execution`) returns no
  step logs, and Keras then logs no `loss` for it. The model's loss tracker
  still holds the mean over every batch the epoch trained, which is what
  Keras logs for every other epoch. It must come before callbacks that read
  `loss`.
  """

  def on_epoch_end(self, epoch, logs=None):
    if logs is None or 'loss' in logs:
      return
    loss = _tracked_loss(self.model)
    if loss is not None:
      logs['loss'] = loss


class BestEpochKeeper(keras.callbacks.Callback):
  """Remembers the weights of the epoch with the best validation metric.

  Args:
    interval: compare every `interval` epochs (epoch numbers divisible by
      it, counting from 1), as the original's `epoch_interval_to_save_best`.
    log_key: the Keras log entry compared (`val_loss`, or a rank metric the
      epoch evaluation logs, e.g. `val_auc/true_top_1p`); it must be logged
      by a callback that runs before this one.
    higher_is_better: whether a larger value is better.
  """

  def __init__(
    self,
    interval: int,
    log_key: str = 'val_loss',
    higher_is_better: bool = False,
  ):
    super().__init__()
    if interval < 1:
      raise ValueError(f'epoch_interval_to_save_best must be >= 1: {interval}')
    self._interval = interval
    self.log_key = log_key
    self._sign = -1.0 if higher_is_better else 1.0
    self.best_epoch: Optional[int] = None
    self.best_value = math.nan
    self._weights = None

  def on_epoch_end(self, epoch, logs=None):
    if (epoch + 1) % self._interval:
      return
    logs = logs or {}
    if self.log_key not in logs:
      raise KeyError(
        f'BestEpochKeeper compares {self.log_key!r}, which no earlier '
        f'callback logged; logged: {sorted(logs)}'
      )
    value = float(logs[self.log_key])
    if math.isnan(value):
      return
    if self.best_epoch is None or self._sign * value < (
      self._sign * self.best_value
    ):
      self.best_value = value
      self.best_epoch = epoch + 1
      self._weights = self.model.get_weights()

  def restore_best(self) -> Optional[int]:
    """Loads the best weights into the model; returns their epoch (or None
    when no epoch was compared, e.g. fewer epochs than the interval)."""
    if self._weights is not None:
      self.model.set_weights(self._weights)
    return self.best_epoch


class StabilityWatch(keras.callbacks.Callback):
  """Announces a metric drop or a loss spike at the epoch it happens.

  Args:
    evaluation: the run's `EpochEvaluation` (its `tables` are read); it
      must come before this callback in the callback list.
    thresholds: the rules' margins.
    print_fn: where the line goes (the console by default; the run log
      gets a warning record as well).
  """

  def __init__(
    self,
    evaluation,
    thresholds: training_lib.StabilityThresholds,
    print_fn: Callable[[str], None] = print,
  ):
    super().__init__()
    self._evaluation = evaluation
    self._thresholds = thresholds
    self._print = print_fn
    self.alerts: List[str] = []

  def on_epoch_end(self, epoch, logs=None):
    history = stability.history_from_tables(self._evaluation.tables)
    for line in stability.alerts_at(history, self._thresholds, epoch + 1):
      self.alerts.append(line)
      logging.warning('%s', line)
      self._print(line)
