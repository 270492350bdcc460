"""Normalisers of counts and other targets (MODEL_SPEC 2.4), as TFT analyzers.

Used for the training targets (`loss_norm`), for parent-round counts
(`dependency_norm`) and for additional outputs. Every statistic is a
Transform analyzer over the training split, so the transform graph carries
them and no separate statistics pass (the original's `dataset_stats`) is
needed.
"""

import tensorflow as tf
import tensorflow_transform as tft

from components.config import sweep

STANDARDIZE, BINARIZE, TOTAL_COUNTS, SKIP = sweep.NORMALIZERS
NORMALIZERS = sweep.NORMALIZERS


def normalize(
  values: tf.Tensor,
  method: str,
  standardize_log_transform: bool = True,
  binarize_threshold: float = 1.0,
) -> tf.Tensor:
  """Normalises one column of values with statistics of the analyzed data.

  Args:
    values: [batch] counts or measurements.
    method: STANDARDIZE: z-score of log(1 + x) (or of x when
      `standardize_log_transform` is False), population std (ddof=0);
      BINARIZE: 1 where x >= `binarize_threshold`, else 0; TOTAL_COUNTS:
      x / (sum of x over the analyzed split, the read depth); SKIP: x.
    standardize_log_transform: see STANDARDIZE.
    binarize_threshold: see BINARIZE.

  Returns:
    float32 [batch].

  Raises:
    ValueError: unknown method.
  """
  values = tf.cast(values, tf.float32)
  if method == STANDARDIZE:
    if standardize_log_transform:
      values = tf.math.log1p(values)
    return tft.scale_to_z_score(values)
  if method == BINARIZE:
    return tf.cast(values >= binarize_threshold, tf.float32)
  if method == TOTAL_COUNTS:
    return values / tf.maximum(tft.sum(values), 1.0)
  if method == SKIP:
    return values
  raise ValueError(f'normaliser must be one of {NORMALIZERS}, got {method!r}')
