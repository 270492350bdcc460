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

  def __post_init__(self):
    for name, lowest in (
      ('epochs', 1),
      ('mbsz', 1),
      ('epoch_size', 0),
      ('eval_size', 0),
      ('epoch_interval_to_save_best', 1),
    ):
      value = getattr(self, name)
      if value < lowest:
        raise ValueError(f'--{name} must be at least {lowest}, got {value}')
    if self.best_epoch_metric not in BEST_EPOCH_METRICS:
      raise ValueError(
        f'--best_epoch_metric must be one of {sorted(BEST_EPOCH_METRICS)}, '
        f'got {self.best_epoch_metric!r}'
      )
    self.stability_thresholds()  # Validates them.

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
