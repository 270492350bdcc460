"""What one Trainer or Tuner runs with: the one serialised custom_config.

`RunConfig.to_custom_config()` is the only writer of a Trainer's or Tuner's
`custom_config` and `RunConfig.from_custom_config()` its only parser.
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import Optional

from components.config import hparams as hparams_lib
from components.config import keys
from components.config import model_options
from components.config import sweep
from components.config import training as training_lib
from components.config import tuner as tuner_lib


def check_hparams(values: Dict[str, Any]) -> hparams_lib.HParams:
  """The HParams these values give (unset fields take their defaults).

  With a search the values are the layer counts and the pinned
  hyper-parameters; their names, types and per-layer lengths are checked
  the same way.

  Raises:
    ValueError: an unknown name or an inconsistent value.
  """
  return hparams_lib.HParams.from_dict(values)


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """A Trainer's (or a Tuner's) whole configuration.

  Attributes:
    experiment_pbtxt: the experiment, in protobuf text format.
    hparams: HParams fields fixed for this run: all of them for a Trainer
      without search; the layer counts and the pinned ones for a search.
    model: model options (output layer, loss, inputs, preprocessing).
    training: training-length settings.
    tuner: random-search settings (Tuners only).
  """

  experiment_pbtxt: str
  hparams: Dict[str, Any]
  model: model_options.ModelOptions
  training: training_lib.TrainingConfig
  tuner: Optional[tuner_lib.TunerConfig] = None

  def __post_init__(self):
    check_hparams(self.hparams)

  def for_combination(self, combination: sweep.MetaCombination) -> 'RunConfig':
    """This configuration with one sweep combination's meta-parameters."""
    layers = {k: getattr(combination, k) for k in hparams_lib.LAYER_COUNTS}
    return dataclasses.replace(
      self,
      hparams={**self.hparams, **layers},
      model=self.model.with_meta(combination.as_dict()),
    )

  def for_replica(self, k: int) -> 'RunConfig':
    """Replica k: the same configuration with seed + k."""
    training = dataclasses.replace(self.training, seed=self.training.seed + k)
    return dataclasses.replace(self, training=training)

  def to_custom_config(self) -> Dict[str, Any]:
    config = {
      keys.EXPERIMENT_KEY: self.experiment_pbtxt,
      keys.HPARAMS_KEY: dict(self.hparams),
      keys.MODEL_KEY: self.model.as_dict(),
      keys.TRAINING_KEY: self.training.as_dict(),
    }
    if self.tuner is not None:
      config[keys.TUNER_KEY] = self.tuner.as_dict()
    return config

  @classmethod
  def from_custom_config(cls, config: Dict[str, Any]) -> 'RunConfig':
    """Parses what `to_custom_config` wrote (TFX may add its own keys)."""
    tuner = config.get(keys.TUNER_KEY)
    return cls(
      experiment_pbtxt=config[keys.EXPERIMENT_KEY],
      hparams=dict(config.get(keys.HPARAMS_KEY) or {}),
      model=model_options.ModelOptions.from_dict(
        config.get(keys.MODEL_KEY) or {}
      ),
      training=training_lib.TrainingConfig.from_dict(
        config.get(keys.TRAINING_KEY) or {}
      ),
      tuner=tuner_lib.TunerConfig.from_dict(tuner) if tuner else None,
    )
