"""Each output layer on a tiny batch, against hand-computed values."""

import handmade_data
import keras
import numpy as np
import pytest

from components.model import losses
from components.model import output_layers
from schema import experiment as experiment_lib

_EXPERIMENT = experiment_lib.parse_experiment(
  handmade_data.THREE_ROUND_EXPERIMENT
)
SIGNS = experiment_lib.selection_signs(_EXPERIMENT)
READS = list(SIGNS.reads)  # r1_neg, r1_pos, r2_pos
PARENT_INDEX = output_layers.parent_indices(
  READS, experiment_lib.parent_counts(_EXPERIMENT)
)

# Two examples: latent affinities z = (target, serum) and one additional
# output logit (7 and 0.5).
LOGITS = np.array([[2.0, 3.0, 7.0], [-1.0, 0.0, 0.5]], np.float32)
# Normalised parent counts: r1_neg and r1_pos share the library's count,
# r2_pos's parent is r1_pos.
PARENTS = np.array([[0.5, 0.5, 2.0], [1.0, 1.0, 0.0]], np.float32)
W = [[-0.5, 1.0, 2.0], [1.0, 2.0, 3.0]]
B = [0.1, 0.2, 0.3]
C = [0.1, 0.2, 0.3]  # prev_round_scale
V = [[1.0, 1.0, 1.0], [-2.0, 0.5, 4.0]]  # cross_weight

# y_t = sum_a z_a |W_at| s_at + b_t, s = [[-1, 1, 1], [1, -1, 0]]:
# example 0, z = (2, 3):
#   r1_neg: 2 * 0.5 * -1 + 3 * 1 * 1 + 0.1 = 2.1
#   r1_pos: 2 * 1 * 1 + 3 * 2 * -1 + 0.2 = -3.8
#   r2_pos: 2 * 2 * 1 + 3 * 3 * 0 + 0.3 = 4.3
# example 1, z = (-1, 0):
#   r1_neg: -1 * 0.5 * -1 + 0.1 = 0.6
#   r1_pos: -1 * 1 * 1 + 0.2 = -0.8
#   r2_pos: -1 * 2 * 1 + 0.3 = -1.7
LATENT = np.array([[2.1, -3.8, 4.3], [0.6, -0.8, -1.7]])
ADDITIONAL = LOGITS[:, 2:]


def _run(layer, logits=LOGITS, parents=PARENTS):
  counts, affinity = layer(logits, parents)
  return keras.ops.convert_to_numpy(counts), keras.ops.convert_to_numpy(
    affinity
  )


def _built(layer_class, *args):
  layer = layer_class(SIGNS.matrix, *args, num_additional_outputs=1)
  layer.build(LOGITS.shape, PARENTS.shape)
  layer.weight.assign(W)
  layer.bias.assign(B)
  if hasattr(layer, 'prev_round_scale'):
    layer.prev_round_scale.assign(C)
  if hasattr(layer, 'cross_weight'):
    layer.cross_weight.assign(V)
  return layer


def _with_additional(counts):
  return np.concatenate([counts, ADDITIONAL], axis=1)


def test_experiment_gives_the_hand_written_signs_and_parents():
  assert READS == ['r1_neg', 'r1_pos', 'r2_pos']
  assert SIGNS.molecules == ('target', 'serum')
  np.testing.assert_array_equal(SIGNS.matrix, [[-1, 1, 1], [1, -1, 0]])
  assert PARENT_INDEX == [-1, -1, 1]  # lib is not a target column.


def test_fully_observed_counts_are_the_logits_and_affinity_sums():
  molecules = ['serum', 'target']
  matrix = output_layers.affinity_matrix(
    READS, molecules, {'target': ['r1_pos', 'r2_pos'], 'serum': ['r1_neg']}
  )
  layer = output_layers.FullyObserved(matrix, num_additional_outputs=1)
  logits = np.array([[1.0, 2.0, 4.0, 7.0], [0.5, -1.0, 3.0, 0.0]], np.float32)
  counts, affinity = _run(layer, logits, PARENTS)
  np.testing.assert_allclose(counts, logits)
  # serum = r1_neg; target = r1_pos + r2_pos (a sum, not a mean):
  # 2 + 4 = 6 and -1 + 3 = 2.
  np.testing.assert_allclose(affinity, [[1.0, 6.0], [0.5, 2.0]])
  assert layer.num_logits(3, 2, 1) == 4


def test_affinity_map_with_unknown_reads_is_rejected_by_name():
  # 'lib' is a read of the experiment but an input, not a training target.
  with pytest.raises(ValueError, match=r"\['lib', 'r9'\]"):
    output_layers.affinity_matrix(
      READS, ['target'], {'target': ['r2_pos', 'r9', 'lib']}
    )


def test_latent_affinity_by_hand():
  layer = _built(output_layers.LatentAffinity)
  counts, affinity = _run(layer)
  np.testing.assert_allclose(counts, _with_additional(LATENT), rtol=1e-6)
  np.testing.assert_allclose(affinity, LOGITS[:, :2])
  assert layer.num_logits(3, 2, 1) == 3


def test_latent_affinity_starts_at_ones_and_zeros():
  layer = output_layers.LatentAffinity(SIGNS.matrix)
  counts, _ = _run(layer, LOGITS[:, :2], None)
  # W = 1, b = 0: y = z @ s; example 0: r1_neg -2 + 3 = 1, r1_pos 2 - 3 =
  # -1, r2_pos 2.
  np.testing.assert_allclose(counts[0], [1.0, -1.0, 2.0])


def test_latent_with_deps_adds_the_scaled_observed_parent():
  layer = _built(output_layers.LatentWithDeps)
  counts, _ = _run(layer)
  # + c_t * parent_t:
  # example 0: 2.1 + 0.1 * 0.5, -3.8 + 0.2 * 0.5, 4.3 + 0.3 * 2 ->
  #   2.15, -3.7, 4.9
  # example 1: 0.6 + 0.1 * 1, -0.8 + 0.2 * 1, -1.7 + 0.3 * 0 ->
  #   0.7, -0.6, -1.7
  expected = [[2.15, -3.7, 4.9], [0.7, -0.6, -1.7]]
  np.testing.assert_allclose(counts, _with_additional(expected), rtol=1e-6)
  fresh = output_layers.LatentWithDeps(SIGNS.matrix)
  fresh.build((1, 2))
  np.testing.assert_allclose(
    keras.ops.convert_to_numpy(fresh.prev_round_scale), 0.1
  )


@pytest.mark.parametrize(
  'layer_class',
  [output_layers.LatentWithDeps, output_layers.LatentWithCrossDeps],
)
def test_serving_without_parent_counts_predicts_the_latent_part(layer_class):
  layer = _built(layer_class)
  for parents in (None, np.zeros_like(PARENTS)):
    counts, affinity = _run(layer, parents=parents)
    np.testing.assert_allclose(counts, _with_additional(LATENT), rtol=1e-6)
    np.testing.assert_allclose(affinity, LOGITS[:, :2])


def test_latent_with_pred_deps_uses_the_predicted_parent():
  layer = _built(output_layers.LatentWithPredDeps, PARENT_INDEX)
  # Only r2_pos has a target parent (r1_pos); the r1 reads add 0.
  # example 0: r2_pos 4.3 + 0.3 * -3.8 = 3.16
  # example 1: r2_pos -1.7 + 0.3 * -0.8 = -1.94
  expected = [[2.1, -3.8, 3.16], [0.6, -0.8, -1.94]]
  for parents in (PARENTS, None):  # Observed counts are not used.
    counts, _ = _run(layer, parents=parents)
    np.testing.assert_allclose(counts, _with_additional(expected), rtol=1e-6)


def test_latent_with_cross_deps_adds_the_interaction():
  layer = _built(output_layers.LatentWithCrossDeps)
  counts, _ = _run(layer)
  # cross_t = sum_a z_a |V_at| s_at:
  # example 0: r1_neg 2 * -1 + 3 * 2 * 1 = 4; r1_pos 2 * 1 + 3 * 0.5 * -1 =
  #   0.5; r2_pos 2 * 1 + 3 * 4 * 0 = 2.
  # example 1: r1_neg -1 * -1 = 1; r1_pos -1 * 1 = -1; r2_pos -1 * 1 = -1.
  # y = latent + (c + cross) * parent:
  # example 0: 2.1 + 4.1 * 0.5 = 4.15; -3.8 + 0.7 * 0.5 = -3.45;
  #   4.3 + 2.3 * 2 = 8.9
  # example 1: 0.6 + 1.1 * 1 = 1.7; -0.8 + -0.8 * 1 = -1.6; -1.7 + 0 = -1.7
  expected = [[4.15, -3.45, 8.9], [1.7, -1.6, -1.7]]
  np.testing.assert_allclose(counts, _with_additional(expected), rtol=1e-6)
  fresh = output_layers.LatentWithCrossDeps(SIGNS.matrix)
  fresh.build((1, 2))
  assert not keras.ops.convert_to_numpy(fresh.cross_weight).any()


def test_logit_and_parent_counts_are_checked():
  with pytest.raises(ValueError, match='expects 2 logits, got 3'):
    output_layers.LatentAffinity(SIGNS.matrix)(LOGITS, None)
  with pytest.raises(ValueError, match='expects 4 logits, got 3'):
    output_layers.FullyObserved(np.ones((3, 1)), 1)(LOGITS)
  with pytest.raises(ValueError, match='expects 3 parent counts, got 2'):
    output_layers.LatentWithDeps(SIGNS.matrix, 1)(LOGITS, PARENTS[:, :2])
  with pytest.raises(ValueError, match='parent_index has 2 entries'):
    output_layers.LatentWithPredDeps(SIGNS.matrix, [-1, 0])


def test_parent_indices():
  assert output_layers.parent_indices(
    ['a', 'b', 'c'], {'a': '', 'b': 'lib', 'c': 'b'}
  ) == [-1, -1, 1]


def _layer(name):
  if name == 'FULLY_OBSERVED':
    matrix = output_layers.affinity_matrix(
      READS, ['target'], {'target': ['r1_pos', 'r2_pos']}
    )
    return output_layers.FullyObserved(matrix, 1), 1
  if name == 'LATENT_WITH_PRED_DEPS':
    return output_layers.LatentWithPredDeps(SIGNS.matrix, PARENT_INDEX, 1), 2
  layer_class = {
    'LATENT_AFFINITY': output_layers.LatentAffinity,
    'LATENT_WITH_DEPS': output_layers.LatentWithDeps,
    'LATENT_WITH_CROSS_DEPS': output_layers.LatentWithCrossDeps,
  }[name]
  return layer_class(SIGNS.matrix, 1), 2


OUTPUT_LAYERS = [
  'FULLY_OBSERVED',
  'LATENT_AFFINITY',
  'LATENT_WITH_DEPS',
  'LATENT_WITH_PRED_DEPS',
  'LATENT_WITH_CROSS_DEPS',
]


def _model(name, num_features=6):
  """features (+ parent counts) -> Dense -> output layer."""
  layer, num_molecules = _layer(name)
  features = keras.Input((num_features,), name='features')
  parents = keras.Input((len(READS),), name='parent_counts')
  logits = keras.layers.Dense(layer.num_logits(len(READS), num_molecules, 1))(
    features
  )
  counts, affinity = layer(logits, parents)
  return keras.Model(
    {'features': features, 'parent_counts': parents},
    {'counts': counts, 'affinity': affinity},
  )


def _targets(loss_name, rng, shape):
  if loss_name == 'CROSS_ENTROPY':
    y = rng.integers(0, 2, shape).astype(np.float32)
  elif loss_name.endswith('POISSON_LOSS'):
    y = rng.poisson(2.0, shape).astype(np.float32)  # Raw counts, with zeros.
  else:
    y = rng.normal(size=shape).astype(np.float32)
  y[0, 0] = np.nan  # An unobserved target.
  return y


@pytest.mark.parametrize('loss_name', sorted(losses.LOSSES))
@pytest.mark.parametrize('name', OUTPUT_LAYERS)
def test_each_layer_trains_with_each_loss(name, loss_name):
  rng = np.random.default_rng(0)
  model = _model(name)
  train_model = keras.Model(model.input, model.output['counts'])
  train_model.compile(
    optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
    loss=losses.LOSSES[loss_name],
  )
  x = {
    'features': rng.normal(size=(32, 6)).astype(np.float32),
    'parent_counts': rng.normal(size=(32, 3)).astype(np.float32),
  }
  y = _targets(loss_name, rng, (32, 4))  # 3 reads + 1 additional output.
  history = train_model.fit(x, y, batch_size=8, epochs=2, verbose=0)
  assert np.isfinite(history.history['loss']).all()


@pytest.mark.parametrize('name', OUTPUT_LAYERS)
def test_config_round_trip(name):
  layer, _ = _layer(name)
  again = keras.saving.deserialize_keras_object(
    keras.saving.serialize_keras_object(layer)
  )
  assert type(again) is type(layer)
  assert again.get_config() == layer.get_config()


@pytest.mark.parametrize('name', OUTPUT_LAYERS)
def test_saved_model_predicts_the_same(name, tmp_path):
  model = _model(name)
  x = {
    'features': np.ones((2, 6), np.float32),
    'parent_counts': PARENTS,
  }
  path = str(tmp_path / 'model.keras')
  model.save(path)
  again = keras.saving.load_model(path)
  for key in ('counts', 'affinity'):
    np.testing.assert_allclose(
      keras.ops.convert_to_numpy(again(x)[key]),
      keras.ops.convert_to_numpy(model(x)[key]),
      rtol=1e-6,
    )


def test_fully_observed_without_a_map_has_no_affinity():
  matrix = output_layers.affinity_matrix(READS, [], {})
  layer = output_layers.FullyObserved(matrix, num_additional_outputs=1)
  logits = np.array([[1.0, 2.0, 4.0, 7.0]], np.float32)
  counts, affinity = _run(layer, logits, None)
  np.testing.assert_allclose(counts, logits)
  assert affinity.shape == (1, 0)
  again = output_layers.FullyObserved.from_config(layer.get_config())
  assert again.affinity_matrix.shape == (3, 0)
