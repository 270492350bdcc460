"""Random-search settings of a Tuner (one per meta-parameter combination)."""

import dataclasses
from typing import Any
from typing import Dict

from components.config import fields

# Search objectives: tuner_loss -> (logged metric, direction). The metric
# is the validation split's, from the per-epoch evaluation.
OBJECTIVES = {
  'auc/true_top_1p': ('val_auc/true_top_1p', 'max'),
  'loss': ('val_loss', 'min'),
}
# Trials a search runs when only --autotune asks for one.
DEFAULT_NUM_TRIALS = 10


@dataclasses.dataclass(frozen=True)
class TunerConfig:
  """KerasTuner random search over the original's space.

  Attributes:
    num_trials: random-search trials per combination.
    tuner_loss: the objective, a key of `OBJECTIVES` ('auc/true_top_1p'
      maximised, the original's default, or 'loss' minimised).
    max_strides: largest conv stride sampled.
    max_rates: largest conv dilation rate sampled.
  """

  num_trials: int = DEFAULT_NUM_TRIALS
  tuner_loss: str = 'auc/true_top_1p'
  max_strides: int = 1
  max_rates: int = 1

  def __post_init__(self):
    if self.num_trials < 1:
      raise ValueError(f'--tuner_trials must be >= 1, got {self.num_trials}')
    if self.tuner_loss not in OBJECTIVES:
      raise ValueError(
        f'--tuner_loss must be one of {sorted(OBJECTIVES)}, got '
        f'{self.tuner_loss!r}'
      )
    for name in ('max_strides', 'max_rates'):
      if getattr(self, name) < 1:
        raise ValueError(f'--{name} must be >= 1, got {getattr(self, name)}')

  @property
  def direction(self) -> str:
    """'max' or 'min': how the objective is optimised."""
    return OBJECTIVES[self.tuner_loss][1]

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'TunerConfig':
    fields.check_known(cls, values, 'tuner settings')
    return cls(**values)

  def as_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)
