"""KerasTuner random search of one meta-parameter combination.

Each Tuner component searches the hyper-parameters of one combination of
meta-parameters (layer counts from the run's `hparams`; output layer, loss
and loss normaliser from its model options) over the original's ranges
(`components.search.search_space`). The objective is the validation
`auc/true_top_1p` averaged over outputs (maximised, the original's default
`tuner_loss`) or the validation loss (minimised), both computed each epoch
by the same code as the Trainer's reports (Keras makes no validation pass
of its own). Infeasible conv stacks fail
their trial and the search goes on.
"""

import dataclasses

import keras
import keras_tuner
import tensorflow_transform as tft
from tfx import v1 as tfx

from components.config import hparams as hparams_lib
from components.config import run_config
from components.config import tuner as tuner_config
from components.model import network
from components.search import search_space
from components.training import callbacks as training_callbacks
from components.training import run_setup


def objective(config: tuner_config.TunerConfig) -> keras_tuner.Objective:
  """The KerasTuner objective of `config.tuner_loss`."""
  metric, direction = tuner_config.OBJECTIVES[config.tuner_loss]
  return keras_tuner.Objective(metric, direction)


class AptamerHyperModel(keras_tuner.HyperModel):
  """Builds and fits one candidate; the epoch evaluation feeds the objective."""

  def __init__(self, run: run_setup.RunSetup, data):
    super().__init__(name='aptamer')
    self._run = run
    self._data = data

  def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
    hparams, meta = run_setup.split_tuner_values(hp.values)
    run = dataclasses.replace(
      self._run,
      hparams=hparams_lib.HParams.from_dict(hparams),
      options=self._run.options.with_meta(meta),
    )
    reason = network.infeasibility(run.hparams, run.experiment.sequence_length)
    if reason:
      raise keras_tuner.errors.FailedTrialError(f'infeasible: {reason}')
    return run_setup.build_and_compile(run, self._data.steps_per_execution)[1]

  def fit(self, hp, model, *args, callbacks=None, **kwargs):
    # The evaluation must log the objective before KerasTuner's own
    # callbacks read it at the end of each epoch, so it goes first.
    callbacks = [
      training_callbacks.EpochTrainingLoss(),
      run_setup.divergence_guard(self._run),
      run_setup.epoch_evaluation_callback(
        model, self._data, self._run.options.loss_name
      ),
    ] + list(callbacks or [])
    try:
      with run_setup.whole_split_epochs(self._run.training):
        return model.fit(*args, callbacks=callbacks, **kwargs)
    except training_callbacks.TrainingDivergedError as e:
      # A diverged trial is a failed trial; the search goes on.
      raise keras_tuner.errors.FailedTrialError(str(e)) from e


def build_search(
  fn_args: tfx.components.FnArgs,
) -> tfx.components.TunerFnResult:
  """The random search of the combination `fn_args.custom_config` names.

  Args:
    fn_args: TFX tuner arguments (see `components.tuner_module.tuner_fn`).

  Returns:
    The tuner and the `fit` arguments of every trial.
  """
  config = run_config.RunConfig.from_custom_config(fn_args.custom_config)
  tuning = config.tuner or tuner_config.TunerConfig()
  run = run_setup.setup(fn_args.custom_config)
  pinned = dict(config.hparams)
  hyperparameters = search_space.build(
    num_conv_layers=int(
      pinned.pop('num_conv_layers', run.hparams.num_conv_layers)
    ),
    num_fc_layers=int(pinned.pop('num_fc_layers', run.hparams.num_fc_layers)),
    pinned=pinned,
    max_strides=tuning.max_strides,
    max_rates=tuning.max_rates,
    meta={
      'output_layer': run.options.output_layer,
      'loss_name': run.options.loss_name,
      'loss_norm': run.options.loss_norm,
    },
  )
  tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  data = run_setup.prepare_data(fn_args, tft_output, run)
  tuner = keras_tuner.RandomSearch(
    AptamerHyperModel(run, data),
    objective=objective(tuning),
    max_trials=tuning.num_trials,
    hyperparameters=hyperparameters,
    allow_new_entries=False,
    tune_new_entries=False,
    seed=run.training.seed,
    # Infeasible or diverging draws fail; do not stop the search for them.
    max_consecutive_failed_trials=tuning.num_trials,
    directory=fn_args.working_dir,
    project_name='aptamer_search',
  )
  fit_kwargs = {
    'x': data.train,
    'verbose': 2,
    **data.fit_kwargs,
  }
  return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs=fit_kwargs)
