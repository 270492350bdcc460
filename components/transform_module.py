"""Transform `preprocessing_fn` entry point (the path
`pipeline.configs.PREPROCESSING_FN` names).

The encodings and normalisers are `components.features.preprocessing`.
"""

from typing import Any
from typing import Dict

import tensorflow as tf

from components.features import preprocessing


def preprocessing_fn(
  inputs: Dict[str, tf.Tensor], custom_config: Dict[str, Any]
) -> Dict[str, tf.Tensor]:
  """Maps raw examples to model inputs and targets.

  Args:
    inputs: raw features parsed with the validated schema.
    custom_config: a serialised
      `components.config.transform_config.TransformConfig`.

  Returns:
    The transformed features (see `preprocessing.preprocessing_fn`).
  """
  return preprocessing.preprocessing_fn(inputs, custom_config)
