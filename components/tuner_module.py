"""Tuner `tuner_fn`: KerasTuner random search for one meta-parameter combination.

Each Tuner component searches the hyper-parameters of one combination of
meta-parameters (layer counts, from `custom_config['hparams']`) over the
original's ranges (`components.search.search_space`). The objective is the
validation `auc/true_top_1p` averaged over outputs (maximised, the
original's default `tuner_loss`) or the validation loss (minimised), both
computed each epoch by the same code as the Trainer's reports. Infeasible
conv stacks fail their trial and the search goes on.
"""

import dataclasses
from typing import Any
from typing import Dict

import keras
import keras_tuner
import tensorflow_transform as tft
from tfx import v1 as tfx

from components import trainer_module
from components.model import network as model_lib
from components.search import search_space
from components.training import callbacks as training_callbacks

# custom_config['tuner'] keys, besides the Trainer's custom_config.
TUNER_KEY = 'tuner'
NUM_TRIALS_KEY = 'num_trials'
OBJECTIVE_KEY = 'tuner_loss'
MAX_STRIDES_KEY = 'max_strides'
MAX_RATES_KEY = 'max_rates'
TUNER_DEFAULTS = {
  NUM_TRIALS_KEY: 10,
  OBJECTIVE_KEY: 'auc/true_top_1p',
  MAX_STRIDES_KEY: 1,
  MAX_RATES_KEY: 1,
}

OBJECTIVES = {
  'auc/true_top_1p': keras_tuner.Objective('val_auc/true_top_1p', 'max'),
  'loss': keras_tuner.Objective('val_loss', 'min'),
}


class AptamerHyperModel(keras_tuner.HyperModel):
  """Builds and fits one candidate; the epoch evaluation feeds the objective."""

  def __init__(self, run: trainer_module.RunSetup, data):
    super().__init__(name='aptamer')
    self._run = run
    self._data = data

  def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
    hparams, meta = trainer_module.split_tuner_values(hp.values)
    run = dataclasses.replace(
      self._run,
      hparams=model_lib.HParams.from_dict(hparams),
      options=self._run.options.with_meta(meta),
    )
    reason = model_lib.infeasibility(
      run.hparams, run.experiment.sequence_length
    )
    if reason:
      raise keras_tuner.errors.FailedTrialError(f'infeasible: {reason}')
    return trainer_module.build_and_compile(run)[1]

  def fit(self, hp, model, *args, callbacks=None, **kwargs):
    # The evaluation must log the objective before KerasTuner's own
    # callbacks read it at the end of each epoch, so it goes first.
    callbacks = [
      trainer_module.divergence_guard(self._run),
      trainer_module.epoch_evaluation_callback(
        model, self._data, self._run.options.loss_name
      ),
    ] + list(callbacks or [])
    try:
      return model.fit(*args, callbacks=callbacks, **kwargs)
    except training_callbacks.TrainingDivergedError as e:
      # A diverged trial is a failed trial; the search goes on.
      raise keras_tuner.errors.FailedTrialError(str(e)) from e


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
  """Builds the random search of one meta-parameter combination.

  Args:
    fn_args: TFX tuner arguments. Used fields: `train_files`, `eval_files`,
      `data_accessor`, `transform_graph_path`, `working_dir` and
      `custom_config` (the Trainer's keys plus `tuner`: `num_trials`,
      `tuner_loss`, `max_strides`, `max_rates`). `hparams` holds the layer
      counts and any pinned hyper-parameters; `model` holds the output
      layer, loss and loss normaliser of this combination.

  Returns:
    The tuner and the `fit` arguments of every trial.
  """
  config: Dict[str, Any] = fn_args.custom_config
  tuning = {**TUNER_DEFAULTS, **(config.get(TUNER_KEY) or {})}
  objective = tuning[OBJECTIVE_KEY]
  if objective not in OBJECTIVES:
    raise ValueError(
      f'tuner_loss must be one of {sorted(OBJECTIVES)}, got {objective!r}'
    )
  pinned = dict(config.get(trainer_module.HPARAMS_KEY) or {})
  run = trainer_module.setup(config)
  hyperparameters = search_space.build(
    num_conv_layers=int(pinned.pop('num_conv_layers', 0)),
    num_fc_layers=int(pinned.pop('num_fc_layers', 1)),
    pinned=pinned,
    max_strides=int(tuning[MAX_STRIDES_KEY]),
    max_rates=int(tuning[MAX_RATES_KEY]),
    meta={
      'output_layer': run.options.output_layer,
      'loss_name': run.options.loss_name,
      'loss_norm': run.options.loss_norm,
    },
  )
  tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  data = trainer_module.prepare_data(fn_args, tft_output, run)
  num_trials = int(tuning[NUM_TRIALS_KEY])
  tuner = keras_tuner.RandomSearch(
    AptamerHyperModel(run, data),
    objective=OBJECTIVES[objective],
    max_trials=num_trials,
    hyperparameters=hyperparameters,
    allow_new_entries=False,
    tune_new_entries=False,
    seed=run.training.seed,
    # Infeasible or diverging draws fail; do not stop the search for them.
    max_consecutive_failed_trials=num_trials,
    directory=fn_args.working_dir,
    project_name='aptamer_search',
  )
  fit_kwargs = {
    'x': data.train,
    'validation_data': data.validation,
    'verbose': 2,
    **data.fit_kwargs,
  }
  return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs=fit_kwargs)
