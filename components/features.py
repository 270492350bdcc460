"""Feature names and the pure-TF sequence encodings shared by Transform,
the model and the serving signatures."""

import numpy as np
import tensorflow as tf

from schema import experiment as experiment_lib

ONE_HOT_FEATURE = 'sequence_one_hot'


def transformed_name(key: str) -> str:
  """Name of the normalised (model-target) version of a raw feature."""
  return key + '_xf'


def affinity_output_name(molecule: str) -> str:
  """Serving-output name of the latent affinity for one molecule."""
  return 'affinity_' + molecule


def _base_index_table() -> np.ndarray:
  # -1 everywhere but the four bases, so tf.one_hot leaves a zero row for
  # anything unexpected instead of silently aliasing it to a base.
  table = np.full(256, -1, np.int32)
  for i, base in enumerate(experiment_lib.DNA_BASES):
    table[ord(base)] = i
  return table


_BASE_INDEX = _base_index_table()


def one_hot_encode(sequences: tf.Tensor, sequence_length: int) -> tf.Tensor:
  """One-hot encodes fixed-length DNA sequences, channels in A,T,G,C order.

  Args:
    sequences: string tensor of any shape [batch, ...] holding one sequence
      per batch element (extra unit dimensions are squeezed).
    sequence_length: the experiment's fixed length; every sequence must have
      exactly this many bytes (the data contract check guarantees it).

  Returns:
    float32 tensor [batch, sequence_length * 4], position-major (position 0's
    A,T,G,C channels first), as the original's [position, channel] layout
    flattened.
  """
  sequences = tf.reshape(sequences, [-1])
  codes = tf.io.decode_raw(sequences, tf.uint8, fixed_length=sequence_length)
  indices = tf.gather(tf.constant(_BASE_INDEX), tf.cast(codes, tf.int32))
  one_hot = tf.one_hot(indices, depth=4, dtype=tf.float32)
  return tf.reshape(one_hot, [-1, sequence_length * 4])
