"""Tests for the sequence encodings and the normalisers (hand-computed)."""

import numpy as np
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import schema_utils

from components import features
from components import transform_module


def test_one_hot_uses_the_original_atgc_channel_order():
  out = features.one_hot_encode(tf.constant([[b'ATGC'], [b'CCAA']]), 4)
  expected = np.array(
    [
      # A        T            G            C
      [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
      # C          C            A            A
      [0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0],
    ],
    np.float32,
  )
  np.testing.assert_array_equal(out.numpy(), expected)


def test_one_hot_leaves_unknown_bases_empty():
  out = features.one_hot_encode(tf.constant([b'ANA']), 3).numpy()
  np.testing.assert_array_equal(out[0, 4:8], [0, 0, 0, 0])
  assert out.sum() == 2


def test_standardize_log_uses_training_statistics(tmp_path):
  # z = (log(1+c) - mean) / std, population std, as in the original.
  counts = np.array([0, 1, 3, 7], np.int64)
  raw = [{'c': int(c)} for c in counts]
  metadata = dataset_metadata.DatasetMetadata(
    schema_utils.schema_from_feature_spec(
      {'c': tf.io.FixedLenFeature([], tf.int64)}
    )
  )

  def fn(inputs):
    return {'z': transform_module.standardize_log(inputs['c'])}

  with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=False):
    (result, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
  logs = np.log1p(counts)
  expected = (logs - logs.mean()) / logs.std(ddof=0)
  np.testing.assert_allclose([r['z'] for r in result], expected, rtol=1e-5)
