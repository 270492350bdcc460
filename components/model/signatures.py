"""The exported serving signatures of an aptamer model.

All return predicted normalised counts per read column, keyed by read name,
each additional output by its name, and `affinity_<molecule>` latent
affinities:
  * `serving_default`: serialized tf.Examples (only `sequence` is read, and
    the structure features a model with structure inputs needs), the form
    TFMA and BulkInferrer feed.
  * `serve_sequences`: raw sequence strings (`sequences`); a model with
    structure inputs also takes each structure feature it needs as a
    float32 vector named like the example feature (e.g. `partition_function`,
    from `components.features.structure.folding.fold`).
  * `transform_features`: serialized tf.Examples -> transformed features, for
    TFMA's preprocessing of labels.
"""

from typing import Any
from typing import Dict
from typing import List

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.features import encodings
from components.training import datasets


def make_serving_signatures(
  model: keras.Model,
  tft_output: tft.TFTransformOutput,
  spec: datasets.DataSpec,
  molecules: List[str],
) -> Dict[str, Any]:
  """The exported signatures (see the module docstring)."""
  model.tft_layer = tft_output.transform_features_layer()
  raw_spec = tft_output.raw_feature_spec()
  structure = list(spec.structure_features)
  served_spec = {n: raw_spec[n] for n in ['sequence'] + structure}

  def predict(raw):
    transformed = model.tft_layer(raw)
    inputs = {name: transformed[name] for name in spec.input_features}
    if spec.parent_counts:
      # Serving has no observed counts: the parent term is left out.
      batch = tf.shape(transformed[encodings.ONE_HOT_FEATURE])[0]
      inputs[datasets.PARENT_COUNTS_INPUT] = tf.zeros(
        [batch, len(spec.targets)]
      )
    out = model(inputs, training=False)
    result = {o: out['counts'][:, i] for i, o in enumerate(spec.outputs)}
    for i, molecule in enumerate(molecules):
      result[encodings.affinity_output_name(molecule)] = out['affinity'][:, i]
    return result

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def serve_examples(serialized):
    return predict(tf.io.parse_example(serialized, served_spec))

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='sequences')]
    + [tf.TensorSpec([None], tf.float32, name=n) for n in structure]
  )
  def serve_sequences(sequences, *structure_values):
    raw = {'sequence': sequences}
    raw.update(zip(structure, structure_values))
    return predict({n: tf.reshape(v, [-1, 1]) for n, v in raw.items()})

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def transform_features(serialized):
    return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

  return {
    'serving_default': serve_examples,
    'serve_sequences': serve_sequences,
    'transform_features': transform_features,
  }
