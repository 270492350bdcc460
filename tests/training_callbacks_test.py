"""Tests for divergence detection and best-epoch selection."""

import keras
import numpy as np
import pytest

from components.training import callbacks as training_callbacks


def _model():
  inputs = keras.Input((3,))
  model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
  model.compile(optimizer=keras.optimizers.SGD(1e3), loss='mse')
  return model


def test_exploding_loss_stops_with_a_clear_error():
  x = np.random.default_rng(0).normal(size=(64, 3)) * 100
  y = x.sum(axis=1, keepdims=True)
  with pytest.raises(
    training_callbacks.TrainingDivergedError, match='training diverged'
  ):
    _model().fit(
      x,
      y,
      epochs=5,
      batch_size=8,
      verbose=0,
      callbacks=[training_callbacks.DivergenceGuard()],
    )


@pytest.mark.parametrize('loss', [float('nan'), 6e3, -0.5])
def test_out_of_range_losses_are_divergence(loss):
  guard = training_callbacks.DivergenceGuard(lower_bound=0.0)
  with pytest.raises(training_callbacks.TrainingDivergedError, match='epoch 1'):
    guard.on_train_batch_end(0, {'loss': loss})


def test_poisson_losses_may_go_negative():
  guard = training_callbacks.DivergenceGuard(lower_bound=-np.inf)
  guard.on_train_batch_end(0, {'loss': -3.0})


def test_best_epoch_is_compared_only_every_interval():
  model = _model()
  keeper = training_callbacks.BestEpochKeeper(interval=2)
  keeper.set_model(model)
  losses = [0.1, 0.9, 0.5, 0.7, float('nan'), 0.6]
  for epoch, loss in enumerate(losses):
    model.layers[-1].bias.assign([float(epoch)])
    keeper.on_epoch_end(epoch, {'val_loss': loss})
  # Epochs 2, 4, 6 are compared (0.9, 0.7, 0.6): epoch 6 wins although
  # epoch 1 had the lowest loss, and NaN never wins.
  model.layers[-1].bias.assign([-1.0])
  assert keeper.restore_best() == 6
  assert float(model.layers[-1].bias.numpy()[0]) == 5.0


def test_best_epoch_by_a_rank_metric_takes_the_highest():
  model = _model()
  keeper = training_callbacks.BestEpochKeeper(
    interval=1, log_key='val_auc/true_top_1p', higher_is_better=True
  )
  keeper.set_model(model)
  aucs = [0.6, 0.8, float('nan'), 0.7]
  for epoch, auc in enumerate(aucs):
    model.layers[-1].bias.assign([float(epoch)])
    keeper.on_epoch_end(epoch, {'val_loss': 1.0, 'val_auc/true_top_1p': auc})
  assert keeper.restore_best() == 2
  assert keeper.best_value == 0.8
  assert float(model.layers[-1].bias.numpy()[0]) == 1.0


def test_a_metric_no_callback_logged_is_an_error():
  keeper = training_callbacks.BestEpochKeeper(
    interval=1, log_key='val_auc/true_top_1p', higher_is_better=True
  )
  keeper.set_model(_model())
  with pytest.raises(KeyError, match="compares 'val_auc/true_top_1p'"):
    keeper.on_epoch_end(0, {'val_loss': 1.0})


def test_no_comparison_keeps_the_final_weights():
  model = _model()
  keeper = training_callbacks.BestEpochKeeper(interval=5)
  keeper.set_model(model)
  keeper.on_epoch_end(0, {'val_loss': 0.1})
  assert keeper.restore_best() is None


def test_stability_watch_announces_a_drop_and_a_spike_when_they_happen():
  from components.config import training as training_lib
  from components.training import epoch_evaluation

  counts = np.arange(200, dtype=np.float64)[:, None]
  # Epochs 1-2 rank the binders first, epochs 3-4 last.
  ranking = {'sign': 1.0}
  evaluation = epoch_evaluation.EpochEvaluation(
    predict_fn=lambda x: ranking['sign'] * x,
    datasets={'validation': (counts, (counts, counts / 200))},
    output_names=['r1'],
    loss_fn=lambda y, p: 1.0 + (y - p / 200) ** 2,
    print_fn=None,
    summary_fn=None,
  )
  printed = []
  watch = training_callbacks.StabilityWatch(
    evaluation, training_lib.StabilityThresholds(), print_fn=printed.append
  )
  evaluation.on_train_begin()
  for epoch in range(4):
    ranking['sign'] = 1.0 if epoch < 2 else -1.0
    evaluation.on_epoch_end(epoch, {})
    watch.on_epoch_end(epoch, {})
    if epoch < 2:
      assert printed == []
  assert [line.split(':')[0] for line in printed] == [
    'epoch 3',  # The loss spike, at once.
    'epoch 4',  # The AUC drop, now 2 epochs long, and...
    'epoch 4',  # ...the loss spike again.
  ]
  assert 'validation loss' in printed[0] and 'validation loss' in printed[2]
  assert 'validation auc/true_top_1p 0.000 is 1.000 below' in printed[1]
  assert watch.alerts == printed
