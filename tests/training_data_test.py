"""Preprocessing of training chunks: upsampling and random sequences."""

import numpy as np
import tensorflow as tf

from components.config import model_options
from components.features import encodings
from components.training import datasets


def _chunk(totals):
  totals = np.asarray(totals, np.int64)
  return {'r': tf.constant(totals), 'id': tf.range(len(totals))}


def test_upsampling_reaches_the_fraction_in_expectation():
  # N = 20, one positive, F = 0.5: R = 0.5 * 19 / (1 * 0.5) = 19 copies,
  # an integer, so exactly 19 positives against 19 negatives.
  out = datasets.upsample_positives(
    _chunk([1000] + [3] * 19), ['r'], threshold=1000, fraction=0.5, seed=1
  )
  ids = out['id'].numpy()
  assert (ids == 0).sum() == 19 and len(ids) == 38


def test_fractional_rate_rounds_randomly():
  # N = 20, P = 1, F = 0.1: R = 0.1 * 19 / 0.9 = 2.11 -> 2 or 3 copies.
  counts = [
    (
      datasets.upsample_positives(
        _chunk([1000] + [0] * 19), ['r'], 1000, 0.1, seed
      )['id'].numpy()
      == 0
    ).sum()
    for seed in range(40)
  ]
  assert set(counts) == {2, 3}
  assert 2.0 < np.mean(counts) < 2.3


def test_no_resampling_without_positives_or_when_common_enough():
  for totals in ([0] * 10, [1000] * 3 + [0] * 7):
    out = datasets.upsample_positives(_chunk(totals), ['r'], 1000, 0.1, seed=0)
    assert out['id'].numpy().tolist() == list(range(10))


def test_random_sequences_use_all_four_bases_and_the_template():
  spec = datasets.DataSpec(
    targets=['r'],
    additional_outputs=[],
    input_features=[encodings.ONE_HOT_FEATURE, encodings.KMER_FEATURE],
    norm='STANDARDIZE',
    parent_counts=False,
  )
  batch = datasets._random_sequence_batch(
    2000, 'ANNNNNNNNNNNNNNNNNNNC', spec, {'r_xf_standardize': -0.5}, 2
  )
  one_hot = batch[encodings.ONE_HOT_FEATURE].numpy().reshape(2000, 21, 4)
  assert (one_hot.sum(-1) == 1).all()
  bases = one_hot.argmax(-1)
  assert (bases[:, 0] == 0).all() and (bases[:, -1] == 3).all()  # A ... C
  # The original drew only A/T/G; all four must appear in the N positions.
  assert set(np.unique(bases[:, 1:-1])) == {0, 1, 2, 3}
  assert batch[encodings.KMER_FEATURE].shape == (2000, 20)
  np.testing.assert_array_equal(batch['r_xf_standardize'].numpy(), -0.5)


def test_injection_masks_observed_zeros_and_adds_negatives():
  options = model_options.ModelOptions(
    preprocess_mode='PREPROCESS_INJECT_RANDOM_SEQUENCES', ratio_random_dna=1.0
  )
  spec = datasets.DataSpec(
    ['r'], [], [encodings.ONE_HOT_FEATURE], 'SKIP', False
  )
  one_hot = encodings.one_hot_encode(tf.constant([b'ACGT'] * 4), 4)
  chunk = {
    encodings.ONE_HOT_FEATURE: one_hot,
    'r': tf.constant([0, 2, 0, 5], tf.int64),
    'r_xf_skip': tf.constant([0.0, 2.0, 0.0, 5.0]),
    'cluster': tf.range(4, dtype=tf.int64),
  }
  dataset = datasets.training_dataset(
    tf.data.Dataset.from_tensors(chunk),
    spec,
    options,
    batch_size=4,
    seed=0,
    zero={'r_xf_skip': 0.0, 'r_parent_xf': 0.0},
    template='NNNN',
  )
  [(inputs, targets)] = list(dataset)
  targets = targets.numpy()[:, 0]
  assert len(targets) == 8  # 4 real + 4 random.
  assert np.isnan(targets).sum() == 2  # The observed zeros.
  assert sorted(targets[~np.isnan(targets)].tolist()) == [0, 0, 0, 0, 2, 5]
  assert inputs[encodings.ONE_HOT_FEATURE].shape == (8, 16)


def _counted_chunks(per_chunk):
  """Chunks with targets a and b; an example is counted unless both are 0."""
  chunks = []
  for a, b in per_chunk:
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    chunks.append({'a': a, 'b': b, 'cluster': np.arange(len(a))})
  return tf.data.Dataset.from_generator(
    lambda: iter(chunks),
    output_signature={
      k: tf.TensorSpec([None], tf.int64) for k in ('a', 'b', 'cluster')
    },
  )


def test_whole_split_batches_counts_what_preprocessing_keeps():
  chunks = _counted_chunks(
    [([0, 1, 0, 0, 2], [0, 0, 0, 3, 0]), ([0] * 4, [0, 0, 0, 9])]
  )
  spec = datasets.DataSpec(
    targets=['a', 'b'],
    additional_outputs=[],
    input_features=[],
    norm='STANDARDIZE',
    parent_counts=False,
  )
  skip = model_options.ModelOptions(
    preprocess_mode='PREPROCESS_SKIP_ALL_ZERO_COUNTS'
  )
  keep_all = model_options.ModelOptions(preprocess_mode='PREPROCESS_ALL_COUNTS')
  # 4 of 9 examples have a count: 2 minibatches of 2, 1 of 4; all 9: 5 of 2.
  assert datasets.whole_split_batches(chunks, spec, skip, 2) == 2
  assert datasets.whole_split_batches(chunks, spec, skip, 4) == 1
  assert datasets.whole_split_batches(chunks, spec, keep_all, 2) == 5
