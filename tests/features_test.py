"""Tests for the sequence encodings and the normalisers (hand-computed)."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import schema_utils

from components.features import encodings
from components.features import normalizers


def test_one_hot_uses_the_original_atgc_channel_order():
  out = encodings.one_hot_encode(tf.constant([[b'ATGC'], [b'CCAA']]), 4)
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
  out = encodings.one_hot_encode(tf.constant([b'ANA']), 3).numpy()
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
    return {'z': normalizers.normalize(inputs['c'], normalizers.STANDARDIZE)}

  with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=False):
    (result, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
  logs = np.log1p(counts)
  expected = (logs - logs.mean()) / logs.std(ddof=0)
  np.testing.assert_allclose([r['z'] for r in result], expected, rtol=1e-5)


def test_kmer_counts_by_hand():
  one_hot = encodings.one_hot_encode(tf.constant([b'AATG']), 4)
  counts = encodings.kmer_counts(one_hot, 4, 2).numpy()[0]
  assert counts.shape == (encodings.num_kmers(2),) == (20,)
  # 1-mers in A,T,G,C order.
  np.testing.assert_array_equal(counts[:4], [2, 1, 1, 0])
  # 2-mers: index 4 * first + second, so AA=0, AT=1, TG=4*1+2=6.
  expected = np.zeros(16)
  expected[[0, 1, 6]] = 1
  np.testing.assert_array_equal(counts[4:], expected)


def test_kmer_counts_skip_windows_with_unknown_bases():
  one_hot = encodings.one_hot_encode(tf.constant([b'ANA']), 3)
  counts = encodings.kmer_counts(one_hot, 3, 2).numpy()[0]
  assert counts[:4].tolist() == [2, 0, 0, 0]
  assert counts[4:].sum() == 0  # Both 2-mers contain the N.


def test_kmer_counts_equal_a_python_count_on_random_sequences():
  rng = np.random.default_rng(3)
  sequences = [''.join(rng.choice(list('ACGTN'), 12)) for _ in range(50)]
  one_hot = encodings.one_hot_encode(
    tf.constant([s.encode() for s in sequences]), 12
  )
  counts = encodings.kmer_counts(one_hot, 12, 6).numpy()
  for row, sequence in zip(counts, sequences):
    expected = []
    for k in range(1, 7):
      kmers = [''.join(p) for p in itertools.product('ATGC', repeat=k)]
      windows = [sequence[i : i + k] for i in range(len(sequence) + 1 - k)]
      expected += [windows.count(kmer) for kmer in kmers]
    np.testing.assert_array_equal(row, expected)


def test_kmer_null_statistics_match_the_binomial():
  mean, std = encodings.kmer_null_statistics(40, 4)
  assert len(mean) == encodings.num_kmers(4) == 340
  assert mean[0] == pytest.approx(10.0)
  assert std[0] == pytest.approx(2.7386, abs=1e-4)
  # k = 4: n = 37 positions, p = 1/256.
  assert mean[-1] == pytest.approx(37 / 256)
  assert std[-1] == pytest.approx(np.sqrt(37 / 256 * 255 / 256))
  one_hot = encodings.one_hot_encode(tf.constant([b'A' * 40]), 40)
  z = encodings.standardized_kmer_counts(one_hot, 40, 1).numpy()[0]
  np.testing.assert_allclose(
    z, [(40 - 10) / 2.7386, -3.6515, -3.6515, -3.6515], atol=1e-3
  )


def _analyze(tmp_path, values, fn):
  raw = [{'c': float(v)} for v in values]
  metadata = dataset_metadata.DatasetMetadata(
    schema_utils.schema_from_feature_spec(
      {'c': tf.io.FixedLenFeature([], tf.float32)}
    )
  )
  with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=False):
    (result, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
      lambda inputs: {'z': fn(inputs['c'])}
    )
  return np.array([r['z'] for r in result])


@pytest.mark.parametrize(
  'method, log, expected',
  [
    (
      normalizers.STANDARDIZE,
      False,
      lambda c: (c - c.mean()) / c.std(ddof=0),
    ),
    (normalizers.BINARIZE, True, lambda c: (c >= 2).astype(float)),
    (normalizers.TOTAL_COUNTS, True, lambda c: c / c.sum()),
    (normalizers.SKIP, True, lambda c: c),
  ],
)
def test_each_normalizer_by_hand(tmp_path, method, log, expected):
  counts = np.array([0, 1, 3, 7, 2], np.float64)
  out = _analyze(
    tmp_path,
    counts,
    lambda c: normalizers.normalize(
      c, method, standardize_log_transform=log, binarize_threshold=2
    ),
  )
  np.testing.assert_allclose(out, expected(counts), rtol=1e-5)


def test_unknown_normalizer_is_rejected():
  with pytest.raises(ValueError, match='normaliser must be one of'):
    normalizers.normalize(tf.constant([1.0]), 'ZSCORE')


def test_gc_content_buckets():
  one_hot = encodings.one_hot_encode(
    tf.constant([b'AAAAAAAAAA', b'GGGGAAAAAA', b'GCGCGCAAAA', b'GGGGGGGGGG']),
    10,
  )
  labels = encodings.gc_content_bucket(one_hot, 10).numpy().tolist()
  assert labels == [b'GC <30%', b'GC 40-50%', b'GC >=60%', b'GC >=60%']


def test_input_count_buckets():
  counts = [
    tf.constant([[0], [1], [3], [0]]),
    tf.constant([[0], [0], [6], [12]]),
  ]
  labels = encodings.count_bucket(counts, tf.zeros([4, 2])).numpy().tolist()
  assert labels == [b'0 reads', b'1 read', b'2-9 reads', b'>=10 reads']
  none = encodings.count_bucket([], tf.zeros([3, 2])).numpy().tolist()
  assert none == [b'no input reads'] * 3
