"""Transform `preprocessing_fn`: sequence encodings and normalised targets.

Everything here is pure TF so the transform graph is servable: the serving
signature feeds raw sequences through it. Every normalisation statistic is a
Transform analyzer, computed over the training split only (Transform's
default `analyze` split), as the original computed them over training folds.
"""

from typing import Any
from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from components import features

# custom_config keys (set by pipeline.create_pipeline).
SEQUENCE_LENGTH_KEY = 'sequence_length'
TARGET_NAMES_KEY = 'target_names'


def standardize_log(counts: tf.Tensor) -> tf.Tensor:
  """STANDARDIZE with log transform: (log(1+c) - mean) / std over training.

  The std is the population std (ddof=0), as in the original statistics.
  """
  return tft.scale_to_z_score(tf.math.log1p(tf.cast(counts, tf.float32)))


def preprocessing_fn(
  inputs: Dict[str, tf.Tensor], custom_config: Dict[str, Any]
) -> Dict[str, tf.Tensor]:
  """Maps raw examples to model inputs and targets.

  Args:
    inputs: raw features parsed with the experiment's schema; scalars arrive
      as [batch, 1] dense tensors.
    custom_config: `sequence_length` and `target_names` (the training
      targets: read names of rounds with an input).

  Returns:
    `sequence_one_hot` [batch, L*4]; per target `<read>_xf` (standardised
    log counts) and `<read>` (raw counts, the evaluation labels); `cluster`.
  """
  outputs = {
    features.ONE_HOT_FEATURE: features.one_hot_encode(
      inputs['sequence'], custom_config[SEQUENCE_LENGTH_KEY]
    ),
    'cluster': tf.reshape(inputs['cluster'], [-1]),
  }
  for name in custom_config[TARGET_NAMES_KEY]:
    counts = tf.reshape(inputs[name], [-1])
    outputs[name] = counts
    outputs[features.transformed_name(name)] = standardize_log(counts)
  return outputs
