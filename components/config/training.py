"""The playbook's training-length settings, with the run defaults."""

import dataclasses
from typing import Any
from typing import Dict

from components.config import fields


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
    epoch_interval_to_save_best: compare validation loss every N epochs;
      the best such epoch is exported.
    cache_training_data: keep the parsed training split in memory after the
      first epoch (turn off for splits larger than memory).
  """

  epochs: int = 10
  epoch_size: int = 0
  eval_size: int = 0
  mbsz: int = 64
  seed: int = 0
  epoch_interval_to_save_best: int = 5
  cache_training_data: bool = True

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

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'TrainingConfig':
    fields.check_known(cls, values, 'training settings')
    known = {f.name: f.type for f in dataclasses.fields(cls)}
    return cls(
      **{
        k: bool(v) if known[k] in (bool, 'bool') else int(v)
        for k, v in values.items()
      }
    )

  def as_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)
