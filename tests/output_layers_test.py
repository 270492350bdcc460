"""Each output layer on a tiny batch, against hand-computed values."""

import keras
import numpy as np
import pytest

from components import output_layers

# Two molecules (target, serum) x three reads (r1_neg, r1_pos, r2_pos).
SIGNS = np.array([[-1, 1, 1], [1, -1, 0]], np.float32)
# One example: latent affinities z = (2, 3), one additional-output logit 7.
LOGITS = np.array([[2.0, 3.0, 7.0]], np.float32)
PARENTS = np.array([[0.5, -1.0, 2.0]], np.float32)


def _run(layer, logits=LOGITS, parents=PARENTS):
  counts, affinity = layer(logits, parents)
  return keras.ops.convert_to_numpy(counts)[0], keras.ops.convert_to_numpy(
    affinity
  )[0]


def _set_latent_weights(layer):
  layer.weight.assign([[-0.5, 1.0, 2.0], [1.0, 2.0, 3.0]])
  layer.bias.assign([0.1, 0.2, 0.3])


# y_t = z . (|W_t| * s_t) + b_t with the weights above:
# r1_neg: 2 * 0.5 * -1 + 3 * 1 * 1 + 0.1 = 2.1
# r1_pos: 2 * 1 * 1 + 3 * 2 * -1 + 0.2 = -3.8
# r2_pos: 2 * 2 * 1 + 3 * 3 * 0 + 0.3 = 4.3
LATENT = np.array([2.1, -3.8, 4.3])


def test_latent_affinity_by_hand():
  layer = output_layers.LatentAffinity(SIGNS, num_additional_outputs=1)
  layer.build(LOGITS.shape)
  _set_latent_weights(layer)
  counts, affinity = _run(layer)
  np.testing.assert_allclose(counts, [*LATENT, 7.0], rtol=1e-6)
  np.testing.assert_allclose(affinity, [2.0, 3.0])


def test_latent_with_deps_adds_the_scaled_observed_parent():
  layer = output_layers.LatentWithDeps(SIGNS, num_additional_outputs=1)
  layer.build(LOGITS.shape)
  _set_latent_weights(layer)
  layer.prev_round_scale.assign([0.1, 0.2, 0.3])
  counts, _ = _run(layer)
  expected = LATENT + np.array([0.1 * 0.5, 0.2 * -1.0, 0.3 * 2.0])
  np.testing.assert_allclose(counts, [*expected, 7.0], rtol=1e-6)
  # The scale starts at 0.1, as in the original.
  fresh = output_layers.LatentWithDeps(SIGNS, num_additional_outputs=1)
  fresh.build(LOGITS.shape)
  np.testing.assert_allclose(
    keras.ops.convert_to_numpy(fresh.prev_round_scale), 0.1
  )


def test_latent_with_pred_deps_uses_the_predicted_parent():
  # r2_pos's parent is r1_pos (column 1); the r1 reads' parent (the
  # library) is not a target, so they keep the observed parent count.
  layer = output_layers.LatentWithPredDeps(
    SIGNS, parent_index=[-1, -1, 1], num_additional_outputs=1
  )
  layer.build(LOGITS.shape)
  _set_latent_weights(layer)
  layer.prev_round_scale.assign([0.1, 0.2, 0.3])
  counts, _ = _run(layer)
  expected = LATENT + np.array([0.1 * 0.5, 0.2 * -1.0, 0.3 * LATENT[1]])
  np.testing.assert_allclose(counts, [*expected, 7.0], rtol=1e-6)


def test_latent_with_cross_deps_adds_the_interaction():
  layer = output_layers.LatentWithCrossDeps(SIGNS, num_additional_outputs=1)
  layer.build(LOGITS.shape)
  _set_latent_weights(layer)
  layer.prev_round_scale.assign([0.1, 0.2, 0.3])
  layer.cross_weight.assign([[1.0, 1.0, 1.0], [-2.0, 0.5, 4.0]])
  counts, _ = _run(layer)
  # cross_t = z . (|V_t| * s_t): r1_neg 2*-1 + 3*2*1 = 4; r1_pos 2*1 +
  # 3*0.5*-1 = 0.5; r2_pos 2*1 + 3*4*0 = 2.
  cross = np.array([4.0, 0.5, 2.0])
  scale = np.array([0.1, 0.2, 0.3])
  expected = LATENT + (scale + cross) * PARENTS[0]
  np.testing.assert_allclose(counts, [*expected, 7.0], rtol=1e-6)
  fresh = output_layers.LatentWithCrossDeps(SIGNS)
  fresh.build((1, 2))
  assert not keras.ops.convert_to_numpy(fresh.cross_weight).any()


def test_fully_observed_sums_the_mapped_reads():
  matrix = output_layers.affinity_matrix(
    ['r1_neg', 'r1_pos', 'r2_pos'],
    ['target'],
    {'target': ['r1_pos', 'r2_pos']},
  )
  layer = output_layers.FullyObserved(matrix, num_additional_outputs=1)
  logits = np.array([[1.0, 2.0, 4.0, 7.0]], np.float32)
  counts, affinity = _run(layer, logits, None)
  np.testing.assert_allclose(counts, [1.0, 2.0, 4.0, 7.0])
  np.testing.assert_allclose(affinity, [6.0])  # 2 + 4: a sum, not a mean.


def test_logit_count_is_checked():
  layer = output_layers.LatentAffinity(SIGNS)
  with pytest.raises(ValueError, match='expects 2 logits, got 3'):
    layer(LOGITS, None)


def test_parent_indices():
  assert output_layers.parent_indices(
    ['a', 'b', 'c'], {'a': '', 'b': 'lib', 'c': 'b'}
  ) == [-1, -1, 1]


@pytest.mark.parametrize(
  'layer',
  [
    output_layers.FullyObserved(np.ones((3, 1)), 1),
    output_layers.LatentAffinity(SIGNS, 1),
    output_layers.LatentWithDeps(SIGNS, 1),
    output_layers.LatentWithPredDeps(SIGNS, [-1, -1, 1], 1),
    output_layers.LatentWithCrossDeps(SIGNS, 1),
  ],
  ids=lambda layer: type(layer).__name__,
)
def test_config_round_trip(layer):
  again = type(layer).from_config(layer.get_config())
  assert again.get_config() == layer.get_config()
