"""Output layers: from the network's last layer to predicted counts."""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package='aptamer_tfx')
class LatentAffinity(keras.layers.Layer):
  """The original's LATENT_AFFINITY output layer.

  The network predicts one latent affinity z_a per molecule (target and
  background molecules of the experiment). The normalised count of read t is
  y_t = sum_a z_a * |W_at| * s_at + b_t, where s is the selection-sign matrix
  (+1 target, -1 background, flipped for negative pools; see
  `schema.experiment.selection_signs`). |W| keeps each sign fixed while the
  magnitude is learned; W starts at ones and b at zeros.
  """

  def __init__(self, signs, **kwargs):
    super().__init__(**kwargs)
    self.signs = np.asarray(signs, np.float32)

  def build(self, input_shape):
    num_molecules, num_reads = self.signs.shape
    if input_shape[-1] != num_molecules:
      raise ValueError(
        f'LatentAffinity expects {num_molecules} latent affinities, got '
        f'{input_shape[-1]}'
      )
    self.weight = self.add_weight(
      name='weight', shape=(num_molecules, num_reads), initializer='ones'
    )
    self.bias = self.add_weight(
      name='bias', shape=(num_reads,), initializer='zeros'
    )

  def call(self, affinities):
    scale = keras.ops.abs(self.weight) * self.signs
    return keras.ops.matmul(affinities, scale) + self.bias

  def get_config(self):
    return {**super().get_config(), 'signs': self.signs.tolist()}
