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

from components import features
from components import losses
from components import model as model_lib
from schema import experiment as experiment_lib

# custom_config keys (set by pipeline.create_pipeline).
EXPERIMENT_KEY = 'experiment_pbtxt'
HPARAMS_KEY = 'hparams'
EPOCHS_KEY = 'epochs'
EPOCH_SIZE_KEY = 'epoch_size'
EVAL_SIZE_KEY = 'eval_size'
BATCH_SIZE_KEY = 'mbsz'
SEED_KEY = 'seed'

EVAL_BATCH_SIZE = 1024


@dataclasses.dataclass
class TrainingConfig:
  """The playbook's training-length settings."""

  epochs: int = 5
  epoch_size: int = 0  # 0: one pass over the whole training split.
  eval_size: int = 0  # 0: the whole validation split.
  mbsz: int = 128
  seed: int = 0

  @classmethod
  def from_custom_config(cls, config: Dict[str, Any]) -> 'TrainingConfig':
    return cls(
      epochs=int(config.get(EPOCHS_KEY, cls.epochs)),
      epoch_size=int(config.get(EPOCH_SIZE_KEY, cls.epoch_size)),
      eval_size=int(config.get(EVAL_SIZE_KEY, cls.eval_size)),
      mbsz=int(config.get(BATCH_SIZE_KEY, cls.mbsz)),
      seed=int(config.get(SEED_KEY, cls.seed)),
    )


def _to_inputs_and_labels(batch, targets: List[str], skip_all_zero: bool):
  labels = tf.stack(
    [batch[features.transformed_name(t)] for t in targets], axis=1
  )
  inputs = batch[features.ONE_HOT_FEATURE]
  if skip_all_zero:
    # PREPROCESS_SKIP_ALL_ZERO_COUNTS, the original's training default.
    raw = tf.stack([batch[t] for t in targets], axis=1)
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
) -> tf.data.Dataset:
  """One pass over transformed examples as (one_hot, normalised counts)."""
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
    lambda b: _to_inputs_and_labels(b, targets, skip_all_zero),
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
    hp_values.update(fn_args.hyperparameters.get('values', {}))
  hp = model_lib.HParams.from_dict(hp_values)
  signs = experiment_lib.selection_signs(experiment)
  targets = list(signs.reads)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  keras.utils.set_random_seed(training.seed)

  train_ds = make_dataset(
    fn_args.train_files,
    fn_args.data_accessor,
    tft_output,
    targets,
    training.mbsz,
    shuffle=True,
    skip_all_zero=True,
    seed=training.seed,
  )
  eval_ds = make_dataset(
    fn_args.eval_files,
    fn_args.data_accessor,
    tft_output,
    targets,
    EVAL_BATCH_SIZE,
    shuffle=training.eval_size > 0,
    skip_all_zero=False,
    seed=training.seed,
  )
  fit_kwargs = {}
  if training.epoch_size:
    train_ds = train_ds.repeat()
    fit_kwargs['steps_per_epoch'] = max(1, training.epoch_size // training.mbsz)
  if training.eval_size:
    eval_ds = eval_ds.unbatch().take(training.eval_size).batch(EVAL_BATCH_SIZE)

  model = model_lib.build_latent_affinity_model(
    hp, experiment.sequence_length, signs.matrix
  )
  train_model = keras.Model(model.input, model.output['counts'])
  train_model.compile(
    optimizer=model_lib.make_optimizer(hp), loss=losses.squared_error
  )
  model.summary(print_fn=logging.info)
  logging.info('Hyper-parameters: %s', json.dumps(dataclasses.asdict(hp)))
  history = train_model.fit(
    train_ds,
    epochs=training.epochs,
    validation_data=eval_ds,
    callbacks=[
      keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
      keras.callbacks.TerminateOnNaN(),
    ],
    verbose=2,
    **fit_kwargs,
  )
  with tf.io.gfile.GFile(
    os.path.join(fn_args.model_run_dir, 'history.json'), 'w'
  ) as f:
    json.dump(history.history, f)

  signatures = make_serving_signatures(
    model, tft_output, targets, list(signs.molecules)
  )
  tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)
