"""Several training steps per execution change the speed, not the training."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.config import hparams as hparams_lib
from components.config import training as training_lib
from components.model import network
from components.training import callbacks as training_callbacks

SEQUENCE_LENGTH = 12


def _compiled(steps_per_execution: int) -> keras.Model:
  keras.utils.set_random_seed(7)
  hp = hparams_lib.HParams(
    num_conv_layers=1,
    num_fc_layers=1,
    conv_widths=[3],
    conv_depths=[4],
    conv_strides=[1],
    conv_rates=[1],
    conv_init_factors=[1.0],
    fc_hid_sizes=[8],
    fc_init_factors=[1.0],
    dropouts=[0.2, 0.1],  # Dropout draws random numbers at every step.
  )
  model = network.build_network(
    hp, SEQUENCE_LENGTH, 3, dense_inputs={'extra': 5}
  )
  model.compile(
    optimizer=network.make_optimizer(hp),
    loss='mse',
    steps_per_execution=steps_per_execution,
  )
  return model


def _examples(n):
  rng = np.random.default_rng(0)
  one_hot = np.eye(4, dtype=np.float32)[
    rng.integers(0, 4, (n, SEQUENCE_LENGTH))
  ]
  x = {
    'sequence_one_hot': one_hot.reshape(n, SEQUENCE_LENGTH * 4),
    'extra': rng.normal(size=(n, 5)).astype(np.float32),
  }
  return x, rng.normal(size=(n, 3)).astype(np.float32)


def _whole_split(n, batch_size=16):
  # Filtered, so Keras cannot know how many batches an epoch has, as with
  # the Trainer's preprocessed training split.
  return (
    tf.data.Dataset.from_tensor_slices(_examples(n))
    .batch(batch_size)
    .filter(lambda x, y: tf.shape(y)[0] > 0)
  )


def _train(steps_per_execution, dataset, **fit_kwargs):
  # As the Trainer: its training loss where Keras logs none (an epoch
  # inside one execution, the 32 case below).
  model = _compiled(steps_per_execution)
  history = model.fit(
    dataset,
    verbose=0,
    callbacks=[training_callbacks.EpochTrainingLoss()],
    **fit_kwargs,
  )
  return model, history.history


@pytest.mark.parametrize('steps_per_execution', [4, 7, 32])
def test_whole_split_epochs_train_bitwise_alike(steps_per_execution):
  # 23 full batches and a partial one: the last execution runs out of data
  # part of the way through, and its steps must still count.
  dataset = _whole_split(23 * 16 + 5)
  one, one_history = _train(1, dataset, epochs=3)
  many, many_history = _train(steps_per_execution, dataset, epochs=3)
  assert int(many.optimizer.iterations) == int(one.optimizer.iterations)
  for a, b in zip(one.get_weights(), many.get_weights()):
    np.testing.assert_array_equal(a, b)
  assert many_history['loss'] == one_history['loss']


def test_fixed_size_epochs_keep_their_steps():
  config = training_lib.TrainingConfig(epoch_size=10 * 16, mbsz=16)
  assert config.steps_per_epoch == 10
  assert config.execution_steps() == 10
  dataset = _whole_split(7 * 16).repeat()
  one, _ = _train(1, dataset, epochs=2, steps_per_epoch=10)
  many, _ = _train(
    config.execution_steps(), dataset, epochs=2, steps_per_epoch=10
  )
  assert int(many.optimizer.iterations) == int(one.optimizer.iterations)
  for a, b in zip(one.get_weights(), many.get_weights()):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
  'epoch_size, mbsz, expected',
  [
    (0, 64, 32),  # A whole pass ends with the data: any value.
    (200_000, 64, 25),  # The manuscript: 3,125 = 5^5 steps.
    (64 * 64, 64, 32),
    (31 * 64, 64, 31),
    (37 * 64, 64, 1),  # A prime above the limit: one step per call.
    (10, 64, 1),  # Less than a minibatch: one step per epoch.
  ],
)
def test_execution_steps_divide_the_epoch(epoch_size, mbsz, expected):
  config = training_lib.TrainingConfig(epoch_size=epoch_size, mbsz=mbsz)
  assert config.execution_steps() == expected
  if config.steps_per_epoch:
    assert config.steps_per_epoch % expected == 0


@pytest.mark.parametrize(
  'value, message',
  [
    (0, '--steps_per_execution must be at least 1, got 0'),
    (33, '--steps_per_execution must be at most 32'),
  ],
)
def test_steps_per_execution_is_validated(value, message):
  with pytest.raises(ValueError, match=message):
    training_lib.TrainingConfig(steps_per_execution=value)


def test_divergence_is_still_caught_between_executions():
  model = _compiled(8)
  model.optimizer.learning_rate.assign(1e4)
  x, y = _examples(256)
  with pytest.raises(
    training_callbacks.TrainingDivergedError, match='training diverged'
  ):
    model.fit(
      x,
      y * 1e3,
      epochs=5,
      batch_size=8,
      verbose=0,
      callbacks=[training_callbacks.DivergenceGuard()],
    )


def test_an_epoch_inside_one_execution_still_logs_its_loss():
  # 3 batches, 8 steps per execution: no execution returns step logs.
  dataset = _whole_split(3 * 16)
  one, one_history = _train(1, dataset, epochs=2)
  model, history = _train(8, dataset, epochs=2)
  assert history['loss'] == pytest.approx(one_history['loss'], rel=1e-6)
  for a, b in zip(one.get_weights(), model.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_divergence_in_an_epoch_inside_one_execution_is_caught():
  model = _compiled(8)
  model.optimizer.learning_rate.assign(1e4)
  x, y = _examples(3 * 16)
  dataset = (
    tf.data.Dataset.from_tensor_slices((x, y * 1e3))
    .batch(16)
    .filter(lambda x, y: tf.shape(y)[0] > 0)
  )
  with pytest.raises(
    training_callbacks.TrainingDivergedError, match='its last batch'
  ):
    model.fit(
      dataset,
      epochs=5,
      verbose=0,
      callbacks=[training_callbacks.DivergenceGuard()],
    )


@pytest.mark.parametrize('epoch_size, silenced', [(0, True), (160, False)])
def test_out_of_data_warning_is_silenced_only_for_whole_split_epochs(
  epoch_size, silenced
):
  from components.training import run_setup

  training = training_lib.TrainingConfig(epoch_size=epoch_size, mbsz=16)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    with run_setup.whole_split_epochs(training):
      warnings.warn(
        'Your input ran out of data; interrupting training.', stacklevel=1
      )
      warnings.warn('something else', stacklevel=1)
  messages = [str(w.message) for w in caught]
  assert 'something else' in messages
  assert (
    'Your input ran out of data; interrupting training.' not in messages
  ) == silenced
