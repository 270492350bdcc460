"""TensorFlow's own serialisation of one-value-per-feature Examples."""

import tensorflow as tf


def proto_bytes(int64_values, bytes_values) -> bytes:
  """tf.train.Example(...).SerializeToString(deterministic=True)."""
  feature = {
    n: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
    for n, v in bytes_values.items()
  }
  for name, value in int64_values.items():
    feature[name] = tf.train.Feature(
      int64_list=tf.train.Int64List(value=[value])
    )
  example = tf.train.Example(features=tf.train.Features(feature=feature))
  return example.SerializeToString(deterministic=True)
