"""Trainer `run_fn`: trains the aptamer model and exports it with signatures.

Exported signatures (all return predicted normalised counts per read column,
keyed by read name, and `affinity_<molecule>` latent affinities):
  * `serving_default`: serialized tf.Examples (only `sequence` is read), the
    form TFMA and BulkInferrer feed.
  * `serve_sequences`: raw sequence strings.
  * `transform_features`: serialized tf.Examples -> transformed features, for
    TFMA's preprocessing of labels.
"""

import dataclasses
import json
import os
from typing import Any
from typing import Dict
from typing import List

from absl import logging
import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from components import epoch_evaluation
from components import features
from components import losses
from components import model as model_lib
from components import search_space
from components import training_callbacks
from schema import experiment as experiment_lib

# custom_config keys (set by pipeline.create_pipeline).
EXPERIMENT_KEY = 'experiment_pbtxt'
HPARAMS_KEY = 'hparams'
EPOCHS_KEY = 'epochs'
EPOCH_SIZE_KEY = 'epoch_size'
EVAL_SIZE_KEY = 'eval_size'
BATCH_SIZE_KEY = 'mbsz'
SEED_KEY = 'seed'
BEST_INTERVAL_KEY = 'epoch_interval_to_save_best'

EVAL_BATCH_SIZE = 1024
HPARAMS_FILENAME = 'hparams.json'
BEST_EPOCH_FILENAME = 'best_epoch.json'


@dataclasses.dataclass
class TrainingConfig:
  """The playbook's training-length settings."""

  epochs: int = 5
  epoch_size: int = 0  # 0: one pass over the whole training split.
  eval_size: int = 0  # 0: the whole validation split.
  mbsz: int = 128
  seed: int = 0
  epoch_interval_to_save_best: int = 5

  @classmethod
  def from_custom_config(cls, config: Dict[str, Any]) -> 'TrainingConfig':
    return cls(
      epochs=int(config.get(EPOCHS_KEY, cls.epochs)),
      epoch_size=int(config.get(EPOCH_SIZE_KEY, cls.epoch_size)),
      eval_size=int(config.get(EVAL_SIZE_KEY, cls.eval_size)),
      mbsz=int(config.get(BATCH_SIZE_KEY, cls.mbsz)),
      seed=int(config.get(SEED_KEY, cls.seed)),
      epoch_interval_to_save_best=int(
        config.get(BEST_INTERVAL_KEY, cls.epoch_interval_to_save_best)
      ),
    )


def _to_inputs_and_labels(
  batch, targets: List[str], skip_all_zero: bool, raw_labels: bool
):
  raw = tf.stack([batch[t] for t in targets], axis=1)
  if raw_labels:
    labels = raw
  else:
    labels = tf.stack(
      [batch[features.transformed_name(t)] for t in targets], axis=1
    )
  inputs = batch[features.ONE_HOT_FEATURE]
  if skip_all_zero:
    # PREPROCESS_SKIP_ALL_ZERO_COUNTS, the original's training default.
    keep = tf.reduce_any(raw > 0, axis=1)
    inputs = tf.boolean_mask(inputs, keep)
    labels = tf.boolean_mask(labels, keep)
  return inputs, labels


def make_dataset(
  file_pattern: List[str],
  data_accessor: tfx.components.DataAccessor,
  tft_output: tft.TFTransformOutput,
  targets: List[str],
  batch_size: int,
  shuffle: bool,
  skip_all_zero: bool,
  seed: int,
  raw_labels: bool = False,
) -> tf.data.Dataset:
  """One pass over transformed examples as (one_hot, counts).

  The counts are the normalised training targets, or with `raw_labels` the
  raw counts that the rank metrics compare against.
  """
  dataset = data_accessor.tf_dataset_factory(
    file_pattern,
    tfxio.TensorFlowDatasetOptions(
      batch_size=batch_size,
      shuffle=shuffle,
      shuffle_seed=seed,
      num_epochs=1,
    ),
    tft_output.transformed_metadata.schema,
  )
  return dataset.map(
    lambda b: _to_inputs_and_labels(b, targets, skip_all_zero, raw_labels),
    num_parallel_calls=tf.data.AUTOTUNE,
  ).prefetch(tf.data.AUTOTUNE)


def make_serving_signatures(
  model: keras.Model,
  tft_output: tft.TFTransformOutput,
  targets: List[str],
  molecules: List[str],
) -> Dict[str, Any]:
  """The exported signatures (see the module docstring)."""
  model.tft_layer = tft_output.transform_features_layer()
  raw_spec = tft_output.raw_feature_spec()
  sequence_spec = {'sequence': raw_spec['sequence']}

  def predict(raw):
    transformed = model.tft_layer(raw)
    out = model(transformed[features.ONE_HOT_FEATURE], training=False)
    result = {t: out['counts'][:, i] for i, t in enumerate(targets)}
    for i, molecule in enumerate(molecules):
      result[features.affinity_output_name(molecule)] = out['affinity'][:, i]
    return result

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def serve_examples(serialized):
    return predict(tf.io.parse_example(serialized, sequence_spec))

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='sequences')]
  )
  def serve_sequences(sequences):
    return predict({'sequence': tf.reshape(sequences, [-1, 1])})

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def transform_features(serialized):
    return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

  return {
    'serving_default': serve_examples,
    'serve_sequences': serve_sequences,
    'transform_features': transform_features,
  }


@dataclasses.dataclass
class TrainingData:
  """What a training run (Trainer or Tuner trial) feeds to Keras.

  Attributes:
    train: batches of (one-hot, normalised counts), all-zero rows skipped.
    validation: the validation split as (one-hot, normalised counts).
    fit_kwargs: extra `fit` arguments (steps_per_epoch for `epoch_size`).
    rank_samples: name -> (one-hot, raw counts) for the per-epoch rank
      metrics: a fixed sample of training examples (zeros included, as the
      original's evaluation) and the validation split, capped at eval_size.
    targets: the output (read) names, in column order.
  """

  train: tf.data.Dataset
  validation: tf.data.Dataset
  fit_kwargs: Dict[str, Any]
  rank_samples: Dict[str, Any]
  targets: List[str]


def prepare_data(
  fn_args: tfx.components.FnArgs,
  tft_output: tft.TFTransformOutput,
  targets: List[str],
  training: TrainingConfig,
) -> TrainingData:
  """Builds the datasets of one training run from the TFX arguments."""

  def dataset(files, batch_size, shuffle, skip_all_zero, raw_labels=False):
    return make_dataset(
      files,
      fn_args.data_accessor,
      tft_output,
      targets,
      batch_size,
      shuffle=shuffle,
      skip_all_zero=skip_all_zero,
      seed=training.seed,
      raw_labels=raw_labels,
    )

  train = dataset(fn_args.train_files, training.mbsz, True, True)
  validation = dataset(
    fn_args.eval_files, EVAL_BATCH_SIZE, training.eval_size > 0, False
  )
  fit_kwargs = {'epochs': training.epochs}
  if training.epoch_size:
    train = train.repeat()
    fit_kwargs['steps_per_epoch'] = max(1, training.epoch_size // training.mbsz)
  if training.eval_size:
    validation = (
      validation.unbatch().take(training.eval_size).batch(EVAL_BATCH_SIZE)
    )
  rank_samples = {
    name: epoch_evaluation.materialize(
      dataset(files, EVAL_BATCH_SIZE, shuffle, False, raw_labels=True),
      training.eval_size,
    )
    for name, files, shuffle in (
      ('training', fn_args.train_files, True),
      ('validation', fn_args.eval_files, False),
    )
  }
  return TrainingData(train, validation, fit_kwargs, rank_samples, targets)


def compile_for_training(model: keras.Model, hp: model_lib.HParams):
  """The model restricted to its count output, compiled with the loss."""
  train_model = keras.Model(model.input, model.output['counts'])
  train_model.compile(
    optimizer=model_lib.make_optimizer(hp), loss=losses.squared_error
  )
  return train_model


def epoch_evaluation_callback(
  train_model: keras.Model, data: TrainingData, report_path: str = ''
) -> epoch_evaluation.EpochEvaluation:
  return epoch_evaluation.EpochEvaluation(
    predict_fn=lambda x: train_model.predict(x, batch_size=4096, verbose=0),
    datasets=data.rank_samples,
    output_names=data.targets,
    report_path=report_path,
  )


def run_fn(fn_args: tfx.components.FnArgs) -> None:
  """Trains the model for the configured epochs and exports it.

  Args:
    fn_args: TFX trainer arguments. Used fields: `train_files`, `eval_files`,
      `data_accessor`, `transform_output`, `serving_model_dir`,
      `model_run_dir`, `hyperparameters` (a dict, when a Tuner chose them)
      and `custom_config` (experiment, hparams, epochs, epoch_size,
      eval_size, mbsz, seed).
  """
  config = fn_args.custom_config
  experiment = experiment_lib.parse_experiment(
    config[EXPERIMENT_KEY], 'custom_config.experiment_pbtxt'
  )
  training = TrainingConfig.from_custom_config(config)
  hp_values = dict(config.get(HPARAMS_KEY) or {})
  if fn_args.hyperparameters:
    hp_values.update(
      hparams_from_tuner(fn_args.hyperparameters.get('values', {}))
    )
  hp = model_lib.HParams.from_dict(hp_values)
  signs = experiment_lib.selection_signs(experiment)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  keras.utils.set_random_seed(training.seed)
  data = prepare_data(fn_args, tft_output, list(signs.reads), training)

  model = model_lib.build_latent_affinity_model(
    hp, experiment.sequence_length, signs.matrix
  )
  train_model = compile_for_training(model, hp)
  model.summary(print_fn=logging.info)
  logging.info('Hyper-parameters: %s', json.dumps(dataclasses.asdict(hp)))
  # The original wrote hparams.pbtxt beside its reports; same idea, JSON.
  with tf.io.gfile.GFile(
    os.path.join(fn_args.model_run_dir, HPARAMS_FILENAME), 'w'
  ) as f:
    json.dump(dataclasses.asdict(hp), f, indent=2)
  best = training_callbacks.BestEpochKeeper(
    training.epoch_interval_to_save_best
  )
  history = train_model.fit(
    data.train,
    validation_data=data.validation,
    callbacks=[
      training_callbacks.DivergenceGuard(),
      best,
      epoch_evaluation_callback(
        train_model,
        data,
        os.path.join(fn_args.model_run_dir, epoch_evaluation.REPORT_FILENAME),
      ),
      keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
    ],
    verbose=2,
    **data.fit_kwargs,
  )
  with tf.io.gfile.GFile(
    os.path.join(fn_args.model_run_dir, 'history.json'), 'w'
  ) as f:
    json.dump(epoch_evaluation.nan_to_none(history.history), f)

  best_epoch = best.restore_best()
  exported = {
    'best_epoch': best_epoch,
    'val_loss': None if best_epoch is None else best.best_loss,
    'epochs': training.epochs,
    'epoch_interval_to_save_best': training.epoch_interval_to_save_best,
  }
  print(
    f'Exporting the weights of epoch {best_epoch} (lowest validation loss '
    f'{best.best_loss:.4f} among every '
    f'{training.epoch_interval_to_save_best}th epoch)'
    if best_epoch
    else f'Exporting the final weights (no epoch is a multiple of '
    f'epoch_interval_to_save_best={training.epoch_interval_to_save_best})'
  )
  with tf.io.gfile.GFile(
    os.path.join(fn_args.model_run_dir, BEST_EPOCH_FILENAME), 'w'
  ) as f:
    json.dump(exported, f)

  signatures = make_serving_signatures(
    model, tft_output, data.targets, list(signs.molecules)
  )
  tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)


def hparams_from_tuner(values: Dict[str, Any]) -> Dict[str, Any]:
  """KerasTuner's flat values (`dropout_0`, ...) as `HParams` fields."""
  return search_space.to_hparams_dict(values)
