"""Trains one configuration and exports its best epoch as a SavedModel.

The body of the Trainer's `run_fn` (`components/trainer_module.py`).
"""

import dataclasses
import json
import os

from absl import logging
import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from components.config import keys
from components.config import training as training_lib
from components.model import network
from components.model import signatures
from components.training import callbacks as training_callbacks
from components.training import epoch_evaluation
from components.training import run_setup
from components.training import stability


def _write_json(directory: str, filename: str, value) -> None:
  # An orchestrator need not create the output directory (KFP does not).
  tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(os.path.join(directory, filename), 'w') as f:
    json.dump(epoch_evaluation.nan_to_none(value), f, indent=2)


def write_stability(
  model_run_dir: str,
  tables,
  thresholds: training_lib.StabilityThresholds,
  print_fn=print,
) -> dict:
  """Writes stability.json; prints a warning block if the run was unstable.

  Args:
    model_run_dir: the Trainer's model_run directory.
    tables: `EpochEvaluation.tables` (or the epoch report's records).
    thresholds: the rules' margins.
    print_fn: where the warning block goes (the console by default; the
      run log gets it as a warning record as well).

  Returns:
    The record written.
  """
  record = stability.stability_record(tables, thresholds)
  _write_json(model_run_dir, stability.STABILITY_FILENAME, record)
  path = os.path.join(model_run_dir, stability.STABILITY_FILENAME)
  lines = stability.warning_lines(record, path)
  if lines:
    logging.warning('%s', '\n'.join(lines))
    print_fn('\n' + '\n'.join(lines))
  return record


def train_and_export(fn_args: tfx.components.FnArgs) -> None:
  """Trains the model for the configured epochs and exports the best epoch.

  Args:
    fn_args: TFX trainer arguments. Used fields: `train_files`, `eval_files`,
      `data_accessor`, `transform_output`, `serving_model_dir`,
      `model_run_dir`, `hyperparameters` (when a Tuner or sweep chose them)
      and `custom_config` (experiment, hparams, model options, training).
  """
  tuned = (fn_args.hyperparameters or {}).get('values')
  run = run_setup.setup(fn_args.custom_config, tuned)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  keras.utils.set_random_seed(run.training.seed)
  data = run_setup.prepare_data(fn_args, tft_output, run)
  model, train_model = run_setup.build_and_compile(
    run, data.steps_per_execution
  )
  model.summary(print_fn=logging.info)
  _write_json(
    fn_args.model_run_dir,
    keys.HPARAMS_FILENAME,
    {**dataclasses.asdict(run.hparams), **run.options.as_dict()},
  )
  log_key, higher_is_better = training_lib.BEST_EPOCH_METRICS[
    run.training.best_epoch_metric
  ]
  best = training_callbacks.BestEpochKeeper(
    run.training.epoch_interval_to_save_best, log_key, higher_is_better
  )
  evaluation = run_setup.epoch_evaluation_callback(
    train_model,
    data,
    run.options.loss_name,
    os.path.join(fn_args.model_run_dir, keys.EPOCH_REPORT_FILENAME),
  )
  thresholds = run.training.stability_thresholds()
  # No validation_data: the epoch evaluation scores the validation split and
  # logs its loss, so Keras need not predict it a second time.
  with run_setup.whole_split_epochs(run.training):
    history = train_model.fit(
      data.train,
      callbacks=[
        training_callbacks.EpochTrainingLoss(),
        run_setup.divergence_guard(run),
        evaluation,
        training_callbacks.StabilityWatch(evaluation, thresholds),
        best,
        keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
      ],
      verbose=2,
      **data.fit_kwargs,
    )
  _write_json(fn_args.model_run_dir, keys.HISTORY_FILENAME, history.history)
  write_stability(fn_args.model_run_dir, evaluation.tables, thresholds)
  best_epoch = best.restore_best()
  interval = run.training.epoch_interval_to_save_best
  print(
    f'Exporting the weights of epoch {best_epoch} (best validation '
    f'{run.training.best_epoch_metric} {best.best_value:.4f} among every '
    f'{interval}th epoch)'
    if best_epoch
    else 'Exporting the final weights (no epoch is a multiple of '
    f'epoch_interval_to_save_best={interval})'
  )
  _write_json(
    fn_args.model_run_dir,
    keys.BEST_EPOCH_FILENAME,
    {
      'best_epoch': best_epoch,
      'metric': run.training.best_epoch_metric,
      'value': best.best_value if best_epoch else None,
      'epochs': run.training.epochs,
      'epoch_interval_to_save_best': interval,
    },
  )
  exported = signatures.make_serving_signatures(
    model,
    tft_output,
    data.spec,
    network.affinity_molecules(
      run.options.output_layer, run.options, run.signs
    ),
  )
  tf.saved_model.save(model, fn_args.serving_model_dir, signatures=exported)
