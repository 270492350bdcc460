"""Every output layer x loss trains a few steps on simulated data, no NaN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.config import hparams as hparams_lib
from components.config import model_options
from components.config import sweep
from components.features import encodings
from components.model import losses
from components.model import network as model_lib
from schema import experiment as experiment_lib
import simulation


@pytest.fixture(scope='module')
def simulated():
  result = simulation.simulate(
    simulation.SimulationConfig(
      num_families=150, mutants_per_family=3, depth=5000, seed=3
    )
  )
  signs = experiment_lib.selection_signs(result.experiment)
  counts = np.stack([result.counts[r] for r in signs.reads], axis=1)
  observed = counts.sum(axis=1) > 0
  sequences = [s for s, keep in zip(result.sequences, observed) if keep]
  length = result.experiment.sequence_length
  one_hot = encodings.one_hot_encode(tf.constant(sequences), length)
  # The default inputs: one-hot and k-mer counts.
  features = {
    encodings.ONE_HOT_FEATURE: one_hot.numpy(),
    encodings.KMER_FEATURE: encodings.standardized_kmer_counts(
      one_hot, length, model_options.ModelOptions().kmer_k_max
    ).numpy(),
  }
  parents = experiment_lib.parent_counts(result.experiment)
  library = np.stack(
    [
      result.counts.get(parents[r], np.zeros(len(observed)))
      for r in signs.reads
    ],
    axis=1,
  )[observed]
  return result.experiment, signs, features, counts[observed], library


def _normalise(counts, norm):
  counts = counts.astype(np.float32)
  if norm == 'STANDARDIZE':
    logs = np.log1p(counts)
    # A round with one value everywhere (all zero) standardises to zero.
    std = logs.std(0)
    return (logs - logs.mean(0)) / np.where(std > 0, std, 1.0)
  if norm == 'BINARIZE':
    return (counts >= 1).astype(np.float32)
  return counts  # SKIP


@pytest.mark.parametrize('output_layer', sweep.OUTPUT_LAYERS)
@pytest.mark.parametrize('loss_name', sweep.LOSSES)
def test_combination_trains_without_nan(simulated, output_layer, loss_name):
  experiment, signs, features, counts, parent_counts = simulated
  options = model_options.ModelOptions(
    output_layer=output_layer,
    loss_name=loss_name,
    loss_norm=sweep.DEFAULT_LOSS_NORM[loss_name],
    affinity_target_map={'target': [r for r in signs.reads if 'positive' in r]},
  )
  keras.utils.set_random_seed(0)
  hp = hparams_lib.HParams(num_conv_layers=1, num_fc_layers=1, conv_widths=[4])
  model = model_lib.build_model(hp, experiment, options, signs)
  train_model = keras.Model(model.input, model.output['counts'])
  train_model.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss=losses.LOSSES[loss_name]
  )
  inputs = dict(features)
  if model_lib.PARENT_INPUT in model.input:
    inputs[model_lib.PARENT_INPUT] = _normalise(parent_counts, 'STANDARDIZE')
  targets = _normalise(counts, options.loss_norm)
  history = train_model.fit(inputs, targets, batch_size=64, epochs=2, verbose=0)
  assert len(history.history['loss']) == 2
  assert np.isfinite(history.history['loss']).all(), history.history
  predictions = train_model.predict(inputs, verbose=0)
  assert np.isfinite(predictions).all()
