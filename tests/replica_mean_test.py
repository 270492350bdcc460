"""Tests of components/model/replica_mean.py on small real SavedModels."""

import os

import numpy as np
import pytest
import tensorflow as tf

from components.design import scoring
from components.model import replica_mean

SEQUENCES = ['ACGTACGTAC', 'GGGGCCCCAA', 'TTTTTTTTTT']


class _Replica(tf.Module):
  """Affinity = weight . base counts; one count output; a transform."""

  def __init__(self, weight, extra_output=False):
    super().__init__()
    self.weight = tf.Variable(np.asarray(weight, np.float32))
    self.extra_output = extra_output

  def _predict(self, sequences):
    chars = tf.strings.bytes_split(sequences)
    counts = tf.stack(
      [
        tf.reduce_sum(tf.cast(tf.equal(chars, b), tf.float32), axis=1)
        for b in 'ACGT'
      ],
      axis=1,
    )
    out = {
      'affinity_target': tf.linalg.matvec(counts, self.weight),
      'round1_positive': counts[:, 0] * self.weight[0],
    }
    if self.extra_output:
      out['round2_positive'] = counts[:, 1]
    return out

  def signatures(self):
    spec = {'sequence': tf.io.FixedLenFeature([], tf.string)}

    @tf.function(
      input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
    )
    def serve_examples(serialized):
      return self._predict(tf.io.parse_example(serialized, spec)['sequence'])

    @tf.function(
      input_signature=[tf.TensorSpec([None], tf.string, name='sequences')]
    )
    def serve_sequences(sequences):
      return self._predict(sequences)

    @tf.function(
      input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
    )
    def transform_features(serialized):
      parsed = tf.io.parse_example(serialized, spec)
      return {'length': tf.strings.length(parsed['sequence'])}

    return {
      'serving_default': serve_examples,
      'serve_sequences': serve_sequences,
      'transform_features': transform_features,
    }


def _export(path, weight, **kwargs):
  module = _Replica(weight, **kwargs)
  tf.saved_model.save(module, path, signatures=module.signatures())
  return path


def _example(sequence):
  return tf.train.Example(
    features=tf.train.Features(
      feature={
        'sequence': tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[sequence.encode()])
        )
      }
    )
  ).SerializeToString()


WEIGHTS = ([1, 0, 2, 0], [0, 1, 1, 3], [2, 2, 0, 1])


@pytest.fixture(scope='module')
def replicas(tmp_path_factory):
  root = tmp_path_factory.mktemp('replicas')
  return [_export(str(root / f'r{i}'), w) for i, w in enumerate(WEIGHTS)]


def _predictions(model_dir, signature='serve_sequences'):
  loaded = tf.saved_model.load(model_dir)
  out = loaded.signatures[signature](sequences=tf.constant(SEQUENCES))
  return {k: v.numpy() for k, v in out.items()}


def test_the_mean_and_spread_over_replicas(tmp_path, replicas):
  out = str(tmp_path / 'mean')
  replica_mean.export_replica_mean(replicas, out)
  each = [_predictions(r) for r in replicas]
  mean = _predictions(out)
  spread = _predictions(out, replica_mean.SPREAD_SIGNATURE)
  assert sorted(mean) == sorted(spread) == sorted(each[0])
  for key in each[0]:
    stacked = np.stack([e[key] for e in each])
    np.testing.assert_allclose(mean[key], stacked.mean(0), rtol=1e-6)
    np.testing.assert_allclose(
      spread[key], stacked.std(0, ddof=1), rtol=1e-5, atol=1e-6
    )
  # serving_default (examples, what TFMA feeds) gives the same means.
  loaded = tf.saved_model.load(out)
  examples = tf.constant([_example(s) for s in SEQUENCES])
  by_example = loaded.signatures['serving_default'](examples=examples)
  np.testing.assert_allclose(
    by_example['affinity_target'].numpy(), mean['affinity_target']
  )
  transformed = loaded.signatures['transform_features'](examples=examples)
  assert transformed['length'].numpy().tolist() == [10, 10, 10]
  # The scorer reads it like any single model.
  served = scoring.ServedModel(out)
  assert served.molecules == ['target']
  np.testing.assert_allclose(
    served.predict_sequences(SEQUENCES)['affinity_target'],
    mean['affinity_target'],
  )
  with open(os.path.join(out, replica_mean.REPLICAS_FILENAME)) as f:
    assert f.read().split() == replicas


def test_replicas_that_differ_are_refused(tmp_path, replicas):
  other = _export(str(tmp_path / 'other'), WEIGHTS[0], extra_output=True)
  with pytest.raises(replica_mean.ReplicaMeanError, match='other.*returns'):
    replica_mean.export_replica_mean(
      [replicas[0], other], str(tmp_path / 'out')
    )
  with pytest.raises(replica_mean.ReplicaMeanError, match='at least two'):
    replica_mean.export_replica_mean(replicas[:1], str(tmp_path / 'one'))
  with pytest.raises(replica_mean.ReplicaMeanError, match='not a SavedModel'):
    replica_mean.export_replica_mean(
      [replicas[0], str(tmp_path / 'missing')], str(tmp_path / 'bad')
    )
  assert not os.path.exists(tmp_path / 'out')


def test_the_scorer_reports_a_replica_means_spread(tmp_path, replicas):
  out = str(tmp_path / 'mean')
  replica_mean.export_replica_mean(replicas, out)
  alone = scoring.SequenceScorer([out]).score(SEQUENCES)
  together = scoring.SequenceScorer(replicas).score(SEQUENCES)
  for column in ('affinity_target_mean', 'affinity_target_std'):
    np.testing.assert_allclose(
      alone[column], together[column], rtol=1e-5, atol=1e-6
    )
  assert together['affinity_target_std'].max() > 0
  # A plain single model has no spread to report.
  single = scoring.SequenceScorer([replicas[0]]).score(SEQUENCES)
  assert single['affinity_target_std'].tolist() == [0.0] * len(SEQUENCES)
  with pytest.raises(scoring.ScoringError, match='serve_sequences_spread'):
    scoring.ServedModel(replicas[0]).predict_spread(SEQUENCES)
