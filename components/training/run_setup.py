"""The set-up every training run shares: the Trainer, each Tuner trial and
the replica report parse their configuration, data and model here."""

import contextlib
import dataclasses
from typing import Any
from typing import Dict
import warnings

import keras
import tensorflow_transform as tft
from tfx import v1 as tfx

from components.config import hparams as hparams_lib
from components.config import model_options
from components.config import run_config
from components.config import sweep
from components.config import training as training_lib
from components.model import losses
from components.model import network
from components.search import search_space
from components.training import callbacks as training_callbacks
from components.training import datasets
from components.training import epoch_evaluation
from schema import experiment as experiment_lib
from schema import identifiability


@dataclasses.dataclass
class RunSetup:
  """Everything a training run derives from its custom_config."""

  experiment: Any
  training: training_lib.TrainingConfig
  options: model_options.ModelOptions
  hparams: hparams_lib.HParams
  signs: experiment_lib.SelectionSigns


def split_tuner_values(values: Dict[str, Any]):
  """Tuner values -> (HParams kwargs, meta-parameters for ModelOptions)."""
  values = dict(values)
  meta = {k: values.pop(k) for k in sweep.MODEL_META if k in values}
  return search_space.to_hparams_dict(values), meta


def setup(config: Dict[str, Any], tuned: Dict[str, Any] = None) -> RunSetup:
  """Parses a Trainer/Tuner custom_config (plus a Tuner's chosen values)."""
  run = run_config.RunConfig.from_custom_config(config)
  experiment = experiment_lib.parse_experiment(
    run.experiment_pbtxt, 'custom_config.experiment_pbtxt'
  )
  hp_values = dict(run.hparams)
  options = run.model
  if tuned:
    tuned_hparams, meta = split_tuner_values(tuned)
    hp_values.update(tuned_hparams)
    options = options.with_meta(meta)
  return RunSetup(
    experiment=experiment,
    training=run.training,
    options=options,
    hparams=hparams_lib.HParams.from_dict(hp_values),
    signs=affinity_axes(experiment, options.output_layer),
  )


def affinity_axes(experiment, output_layer: str):
  """The selection signs the output layer is built on.

  LATENT_* layers learn one latent per identifiable affinity
  (`schema.identifiability.model_axes`: a confounded pair becomes one
  combined latent such as `target_vs_serum`); FULLY_OBSERVED reads only
  the read order.
  """
  if output_layer.startswith('LATENT'):
    return identifiability.model_axes(experiment)
  return experiment_lib.selection_signs(experiment)


def build_and_compile(run: RunSetup, steps_per_execution: int):
  """(model, train_model): the full model and its compiled count output.

  Args:
    run: the run's configuration.
    steps_per_execution: training steps per call of the compiled training
      function (`datasets.TrainingData.steps_per_execution`).
  """
  model = network.build_model(
    run.hparams, run.experiment, run.options, run.signs
  )
  train_model = keras.Model(model.input, model.output['counts'])
  train_model.compile(
    optimizer=network.make_optimizer(run.hparams),
    loss=losses.LOSSES[run.options.loss_name],
    steps_per_execution=steps_per_execution,
  )
  return model, train_model


def prepare_data(
  fn_args: tfx.components.FnArgs, tft_output: tft.TFTransformOutput, run
) -> datasets.TrainingData:
  spec = datasets.DataSpec.create(list(run.signs.reads), run.options)
  template = run.experiment.template_sequence or (
    'N' * run.experiment.sequence_length
  )
  return datasets.prepare(
    fn_args, tft_output, spec, run.options, run.training, template
  )


def epoch_evaluation_callback(
  train_model: keras.Model,
  data: datasets.TrainingData,
  loss_name: str,
  report_path: str = '',
) -> epoch_evaluation.EpochEvaluation:
  return epoch_evaluation.EpochEvaluation(
    predict_fn=epoch_evaluation.compiled_predict_fn(train_model),
    datasets=data.rank_samples,
    output_names=data.spec.outputs,
    loss_fn=lambda y, p: losses.per_example_and_target(loss_name, y, p),
    report_path=report_path,
  )


def divergence_guard(run: RunSetup) -> training_callbacks.DivergenceGuard:
  return training_callbacks.DivergenceGuard(
    lower_bound=losses.lower_bound(run.options.loss_name)
  )


@contextlib.contextmanager
def whole_split_epochs(training: training_lib.TrainingConfig):
  """Silences Keras' out-of-data warning where running out is the plan.

  An epoch over the whole training split (no `epoch_size`) ends where the
  data ends, usually inside an execution of several steps; Keras then
  warns as if data were missing, although every batch was trained. With
  `epoch_size` the data repeat, and the warning would be real: it stays.
  """
  with warnings.catch_warnings():
    if not training.steps_per_epoch:
      warnings.filterwarnings(
        'ignore', message='Your input ran out of data', category=UserWarning
      )
    yield
