"""The random-search space matches the original's ranges; pins stay pinned."""

import keras_tuner
import pytest

from components.config import hparams as hparams_lib
from components.search import search_space


def _samples(hp, n=300, seed=0):
  oracle = keras_tuner.oracles.RandomSearchOracle(
    hyperparameters=hp, max_trials=n, seed=seed
  )
  for _ in range(n):
    values = oracle.populate_space(f't{_}')['values']
    if values is None:
      break
    yield values


def test_sampled_values_stay_in_the_original_ranges():
  hp = search_space.build(num_conv_layers=2, num_fc_layers=3, max_strides=2)
  seen = set()
  for values in _samples(hp):
    assert values['nonlinearity'] in ('tanh', 'sigmoid', 'relu', 'elu')
    seen.add(values['nonlinearity'])
    assert 1e-4 <= values['learn_rate'] <= 1e-2
    assert 0.0 <= values['momentum'] <= 0.99
    for i in range(4):  # One dropout per FC layer, the output layer too.
      assert 0.0 <= values[f'dropout_{i}'] <= 0.5
    for i in range(3):
      assert isinstance(values[f'fc_hid_size_{i}'], int)
      assert 64 <= values[f'fc_hid_size_{i}'] <= 768
    for i in range(2):
      assert 4 <= values[f'conv_width_{i}'] <= 12
      assert 16 <= values[f'conv_depth_{i}'] <= 64
      assert values[f'conv_stride_{i}'] in (1, 2)
      assert values[f'conv_rate_{i}'] == 1
    assert 'dropout_4' not in values and 'conv_width_2' not in values
    kwargs = search_space.to_hparams_dict(values)
    hparams = hparams_lib.HParams.from_dict(kwargs)
    assert len(hparams.dropouts) == 4 and len(hparams.conv_widths) == 2
  assert seen == {'tanh', 'sigmoid', 'relu', 'elu'}


def test_learning_rate_is_sampled_on_a_log_scale():
  hp = search_space.build(num_conv_layers=0, num_fc_layers=0)
  rates = [v['learn_rate'] for v in _samples(hp, 400)]
  # Log-uniform on [1e-4, 1e-2]: about half the draws fall below 1e-3.
  below = sum(r < 1e-3 for r in rates) / len(rates)
  assert 0.35 < below < 0.65


def test_pinned_values_stay_pinned():
  hp = search_space.build(
    num_conv_layers=0,
    num_fc_layers=2,
    pinned={
      'nonlinearity': 'tanh',
      'learn_rate': 0.01,
      'momentum': 0.9,
      'dropouts': [0.1, 0.4, 0.001],
    },
  )
  for values in _samples(hp, 50):
    assert values['nonlinearity'] == 'tanh'
    assert values['learn_rate'] == 0.01 and values['momentum'] == 0.9
    assert [values[f'dropout_{i}'] for i in range(3)] == [0.1, 0.4, 0.001]
    assert 64 <= values['fc_hid_size_1'] <= 768  # Still searched.


def test_bad_pins_are_rejected():
  with pytest.raises(ValueError, match='dropouts needs 3 values'):
    search_space.build(0, 2, pinned={'dropouts': [0.1]})
  with pytest.raises(
    ValueError, match="unknown hyper-parameters to pin: \\['lr'\\]"
  ):
    search_space.build(0, 2, pinned={'lr': 0.1})
