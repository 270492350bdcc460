"""The playbook's training-length settings, with the run defaults."""

import dataclasses
from typing import Any
from typing import Dict

from components.config import fields

# What picks the exported epoch: metric -> (Keras log key, higher is better).
# The original compared the validation loss; on count data the loss over a
# whole split can rise while the ranking of binders improves (it weighs the
# many non-binders), so the default compares the original's model-selection
# metric, the mean over outputs of validation auc/true_top_1p.
BEST_EPOCH_METRICS = {
  'auc/true_top_1p': ('val_auc/true_top_1p', True),
  'loss': ('val_loss', False),
}
DEFAULT_BEST_EPOCH_METRIC = 'auc/true_top_1p'
# TensorFlow refuses a traced function that takes more than 32 elements of
# one dataset iterator, and Keras unrolls its training steps per execution.
MAX_STEPS_PER_EXECUTION = 32


@dataclasses.dataclass(frozen=True)
class StabilityThresholds:
  """When the per-epoch validation history counts as unstable.

  `components/training/stability.py` applies them; each is a TrainingConfig
  field (and a flag) of the same name with a `stability_` prefix.

  Attributes:
    auc_drop: the validation mean `auc/true_top_1p` fell more than this
      below its best so far...
    auc_epochs: ...for at least this many evaluated epochs in a row (a
      single-epoch dip on a small validation split is sampling noise: the
      demo's dips 0.12 for one epoch twice while converging).
    loss_factor: a (validation or training) loss more than this many times
      its lowest value of the earlier epochs is a spike.
  """

  auc_drop: float = 0.1
  auc_epochs: int = 2
  loss_factor: float = 1.5

  def __post_init__(self):
    # Written so that NaN fails too.
    if not 0 < self.auc_drop < 1:
      raise ValueError(
        f'--stability_auc_drop must be in (0, 1), got {self.auc_drop}'
      )
    if self.auc_epochs < 1:
      raise ValueError(
        f'--stability_auc_epochs must be at least 1, got {self.auc_epochs}'
      )
    if not self.loss_factor > 1:
      raise ValueError(
        f'--stability_loss_factor must be > 1, got {self.loss_factor}'
      )

  def as_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  """How long and on what a Trainer or Tuner trial trains.

  Attributes:
    epochs: training epochs (no early stopping). 10 fits the demo; the
      manuscript preset trains 50.
    epoch_size: examples per epoch; 0 = one pass over the training split.
    eval_size: examples of each split per epoch report, a new random sample
      each time (the original's shuffled queue); 0 = the whole split.
    mbsz: minibatch size: 64, as the manuscript (the original's code
      defaulted to 128).
    seed: random seed of the (first) training run.
    epoch_interval_to_save_best: compare the validation split every N
      epochs; the best such epoch is exported.
    best_epoch_metric: what "best" means (`BEST_EPOCH_METRICS`):
      'auc/true_top_1p' (default, higher is better) or 'loss' (the
      original's lowest validation loss).
    cache_training_data: keep the parsed training split in memory after the
      first epoch (turn off for splits larger than memory).
    stability_auc_drop, stability_auc_epochs, stability_loss_factor: when
      the per-epoch report calls the run unstable (`StabilityThresholds`).
    steps_per_execution: at most this many training steps per call of the
      compiled training function (Keras' `steps_per_execution`). The
      updates are the same as one step per call (same batches, same order,
      bitwise equal weights); only the per-step Python overhead, which
      dominates small networks on CPUs, is paid once per call. Batch-level
      callbacks see every call's last step. See `execution_steps`.
  """

  epochs: int = 10
  epoch_size: int = 0
  eval_size: int = 0
  mbsz: int = 64
  seed: int = 0
  epoch_interval_to_save_best: int = 5
  best_epoch_metric: str = DEFAULT_BEST_EPOCH_METRIC
  cache_training_data: bool = True
  stability_auc_drop: float = StabilityThresholds.auc_drop
  stability_auc_epochs: int = StabilityThresholds.auc_epochs
  stability_loss_factor: float = StabilityThresholds.loss_factor
  steps_per_execution: int = MAX_STEPS_PER_EXECUTION

  def __post_init__(self):
    for name, lowest in (
      ('epochs', 1),
      ('mbsz', 1),
      ('epoch_size', 0),
      ('eval_size', 0),
      ('epoch_interval_to_save_best', 1),
      ('steps_per_execution', 1),
    ):
      value = getattr(self, name)
      if value < lowest:
        raise ValueError(f'--{name} must be at least {lowest}, got {value}')
    if self.steps_per_execution > MAX_STEPS_PER_EXECUTION:
      raise ValueError(
        f'--steps_per_execution must be at most {MAX_STEPS_PER_EXECUTION} '
        '(TensorFlow refuses more dataset reads in one traced call), got '
        f'{self.steps_per_execution}'
      )
    if self.best_epoch_metric not in BEST_EPOCH_METRICS:
      raise ValueError(
        f'--best_epoch_metric must be one of {sorted(BEST_EPOCH_METRICS)}, '
        f'got {self.best_epoch_metric!r}'
      )
    self.stability_thresholds()  # Validates them.

  @property
  def steps_per_epoch(self) -> int:
    """Training steps per epoch; 0 = one pass over the training split."""
    if not self.epoch_size:
      return 0
    return max(1, self.epoch_size // self.mbsz)

  def execution_steps(self) -> int:
    """The steps per execution a run compiles with.

    Keras rounds an epoch of `steps_per_epoch` steps up to whole executions,
    so with `epoch_size` set this is the largest divisor of the epoch's
    steps not above `steps_per_execution` (3,125 steps of the manuscript's
    epoch: 25): every epoch keeps exactly its steps. A pass over the whole
    split ends where the data ends, so any value keeps it whole.
    """
    steps = self.steps_per_epoch
    if not steps:
      return self.steps_per_execution
    return max(
      d for d in range(1, self.steps_per_execution + 1) if steps % d == 0
    )

  def stability_thresholds(self) -> StabilityThresholds:
    return StabilityThresholds(
      auc_drop=self.stability_auc_drop,
      auc_epochs=self.stability_auc_epochs,
      loss_factor=self.stability_loss_factor,
    )

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'TrainingConfig':
    fields.check_known(cls, values, 'training settings')
    known = {f.name: f.type for f in dataclasses.fields(cls)}

    def parse(name, value):
      if known[name] in (bool, 'bool'):
        return bool(value)
      if known[name] in (str, 'str'):
        return str(value)
      if known[name] in (float, 'float'):
        return float(value)
      return int(value)

    return cls(**{k: parse(k, v) for k, v in values.items()})

  def as_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)
