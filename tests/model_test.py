"""Tests for the network, the LATENT_AFFINITY layer and the loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from components import losses
from components import model as model_lib
from components import output_layers


def test_latent_affinity_by_hand():
  signs = np.array([[1, -1, 0], [-1, 1, 1]], np.float32)
  layer = output_layers.LatentAffinity(signs)
  z = np.array([[2.0, 3.0]], np.float32)
  layer.build(z.shape)
  # Learned magnitudes enter as |W|; the sign comes from the experiment.
  layer.weight.assign([[-0.5, 1.0, 2.0], [1.0, 2.0, 3.0]])
  layer.bias.assign([0.1, 0.2, 0.3])
  out = keras.ops.convert_to_numpy(layer(z))
  expected = [
    2 * 0.5 * 1 + 3 * 1 * -1 + 0.1,
    2 * 1 * -1 + 3 * 2 * 1 + 0.2,
    2 * 2 * 0 + 3 * 3 * 1 + 0.3,
  ]
  np.testing.assert_allclose(out[0], expected, rtol=1e-6)


def test_squared_error_nan_mean_per_target_then_across():
  y_true = tf.constant([[1.0, np.nan], [3.0, 2.0], [np.nan, 4.0]])
  y_pred = tf.constant([[0.0, 9.0], [1.0, 1.0], [5.0, 1.0]])
  # Target 0: errors 1, 4 -> 2.5; target 1: errors 1, 9 -> 5.0.
  assert float(losses.squared_error(y_true, y_pred)) == pytest.approx(3.75)


def test_squared_error_ignores_a_target_with_no_values():
  y_true = tf.constant([[1.0, np.nan], [3.0, np.nan]])
  y_pred = tf.constant([[0.0, 0.0], [1.0, 0.0]])
  assert float(losses.squared_error(y_true, y_pred)) == pytest.approx(2.5)


def test_model_is_keras3_with_counts_and_affinity():
  hp = model_lib.HParams(num_conv_layers=2, num_fc_layers=1, conv_widths=[4, 4])
  signs = np.array([[1, -1, 1], [0, 1, -1]], np.float32)
  model = model_lib.build_latent_affinity_model(hp, 12, signs)
  assert isinstance(model, keras.Model)
  assert type(model).__module__.startswith('keras.src')
  out = model(np.zeros((5, 48), np.float32))
  assert tuple(out['counts'].shape) == (5, 3)
  assert tuple(out['affinity'].shape) == (5, 2)
  names = [layer.name for layer in model.layers]
  assert {'conv_0', 'conv_1', 'fc_0', 'fc_final'} <= set(names)


def test_dropout_precedes_every_fc_layer_including_the_output():
  hp = model_lib.HParams(num_fc_layers=2, dropouts=[0.1, 0.2, 0.3])
  net = model_lib.build_network(hp, 10, 2)
  kinds = [type(layer).__name__ for layer in net.layers]
  rates = [
    layer.rate
    for layer in net.layers
    if isinstance(layer, keras.layers.Dropout)
  ]
  assert rates == [0.1, 0.2, 0.3]
  assert kinds[-2:] == ['Dropout', 'Dense']


def test_infeasible_conv_stacks_are_rejected():
  hp = model_lib.HParams(
    num_conv_layers=1, conv_strides=[2], conv_rates=[2], conv_widths=[4]
  )
  assert 'stride 2 with dilation rate 2' in model_lib.infeasibility(hp, 40)
  hp = model_lib.HParams(
    num_conv_layers=2, conv_strides=[8, 1], conv_widths=[4, 8]
  )
  assert 'shorter than the next width 8' in model_lib.infeasibility(hp, 40)
  with pytest.raises(ValueError, match='infeasible network'):
    model_lib.build_network(hp, 40, 2)


def test_hparams_reject_unknown_and_inconsistent_values():
  with pytest.raises(ValueError, match='unknown hyper-parameters'):
    model_lib.HParams.from_dict({'learning_rate': 0.1})
  with pytest.raises(ValueError, match='dropouts needs 2 values'):
    model_lib.HParams(num_fc_layers=1, dropouts=[0.1])
  with pytest.raises(ValueError, match='nonlinearity'):
    model_lib.HParams(nonlinearity='swish')


def test_both_optimizers_are_really_selectable():
  sgd = model_lib.make_optimizer(model_lib.HParams(momentum=0.5))
  adam = model_lib.make_optimizer(model_lib.HParams(optimizer='adam'))
  assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.5
  assert isinstance(adam, keras.optimizers.Adam)
