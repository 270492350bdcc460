"""Affinity-vs-evidence metrics against sklearn/scipy, and the demo gate."""

import glob
import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as sk_metrics
import tensorflow as tf

from components.config import blessing
from components.evaluation import affinity_metrics as am
from components.features import binding_evidence as be
from schema import experiment as experiment_lib

_DEMO = os.path.join(os.path.dirname(__file__), '..', 'data', 'demo')


def _data(n=2000, seed=0):
  rng = np.random.default_rng(seed)
  truth = rng.normal(size=n)
  # Buckets 0..3 rising with the truth, with ties; enrichment noisy.
  bucket = np.digitize(truth + rng.normal(0, 0.7, n), [0.8, 1.4, 2.0])
  enrichment = truth + rng.normal(0, 1.0, n)
  affinity = truth + rng.normal(0, 0.5, n)
  affinity[:5] = np.nan
  return affinity, bucket, enrichment


def test_metrics_match_sklearn_and_scipy():
  affinity, bucket, enrichment = _data()
  m = am.affinity_metrics(affinity, bucket, enrichment, num_levels=3)
  keep = np.isfinite(affinity)
  a, b, e = affinity[keep], bucket[keep], enrichment[keep]
  for k in (1, 2, 3):
    assert m.auc_hits[k - 1] == pytest.approx(
      sk_metrics.roc_auc_score(b >= k, a), 1e-12
    )
    assert m.num_hits[k - 1] == (b >= k).sum()
  assert m.spearman_bucket == pytest.approx(stats.spearmanr(a, b)[0], 1e-12)
  assert m.spearman_enrichment == pytest.approx(stats.spearmanr(a, e)[0], 1e-12)
  assert m.count == keep.sum() and m.nan_predictions == 5
  # The gate reads the most stringent level with at least 10 hits.
  gated = max(k for k in (1, 2, 3) if (b >= k).sum() >= am.MIN_GATE_HITS)
  assert m.headline_auc == m.auc_hits[gated - 1]
  assert m.as_dict()[am.HEADLINE_AUC] == m.headline_auc


def test_the_gate_falls_back_to_levels_with_enough_hits():
  bucket = np.array([0] * 40 + [1] * 15 + [2] * 5 + [3] * 5)
  affinity = np.arange(bucket.size, dtype=np.float64)
  m = am.affinity_metrics(affinity, bucket, affinity, 3)
  # Level 3 has 5 hits, level 2 has 10: level 2 is gated.
  assert m.num_hits == (25, 10, 5)
  assert m.headline_auc == m.auc_hits[1]
  few = am.affinity_metrics(
    affinity, np.minimum(bucket, 0) + (bucket > 2), affinity, 3
  )
  assert few.num_hits[0] == 5
  assert few.headline_auc == few.auc_hits[0]


def test_inverted_affinity_mirrors_and_ties_count_half():
  affinity, bucket, enrichment = _data(seed=1)
  good = am.affinity_metrics(affinity, bucket, enrichment, 3)
  bad = am.affinity_metrics(-affinity, bucket, enrichment, 3)
  np.testing.assert_allclose(bad.auc_hits, 1 - np.array(good.auc_hits))
  assert bad.spearman_enrichment == pytest.approx(-good.spearman_enrichment)
  # Two positives, two negatives, one tie across the classes: 3.5 of 4.
  assert am.roc_auc(
    np.array([1.0, 2.0, 2.0, 3.0]), np.array([0, 0, 1, 1])
  ) == pytest.approx(3.5 / 4)


def test_empty_classes_and_constants_give_nan():
  m = am.affinity_metrics(np.array([0.1, 0.2, 0.3]), np.zeros(3), np.ones(3), 2)
  assert np.isnan(m.auc_hits).all() and m.num_hits == (0, 0)
  assert np.isnan(m.spearman_bucket) and np.isnan(m.spearman_enrichment)
  keys = m.as_dict()
  assert set(keys) == set(am.metric_names(2))
  assert am.HEADLINE_AUC == 'affinity/auc_hits_strictest'
  with pytest.raises(ValueError, match='differ in length'):
    am.affinity_metrics(np.zeros(2), np.zeros(3), np.zeros(3), 1)


def _demo_table():
  rows = []
  files = glob.glob(os.path.join(_DEMO, 'examples-*.tfrecord.gz'))
  for record in tf.data.TFRecordDataset(files, 'GZIP'):
    feature = tf.train.Example.FromString(record.numpy()).features.feature
    row = {'sequence': feature['sequence'].bytes_list.value[0].decode()}
    row['cluster'] = feature['cluster'].int64_list.value[0]
    for name, value in feature.items():
      if name not in row and value.int64_list.value:
        row[name] = value.int64_list.value[0]
    rows.append(row)
  truth = pd.read_csv(os.path.join(_DEMO, 'ground_truth.csv.gz'))
  return pd.DataFrame(rows).merge(
    truth[['sequence', 'target_kd']], on='sequence', how='inner'
  )


@pytest.fixture(scope='module')
def demo():
  """Evidence on every demo example (depths over all of them)."""
  experiment = experiment_lib.load_experiment(
    os.path.join(_DEMO, 'experiment.pbtxt')
  )
  [spec] = be.evidence_specs(experiment)
  table = _demo_table()
  out = be.evidence_from_counts(
    {n: tf.constant(table[n].values) for n in spec.reads},
    {n: tf.constant(float(table[n].sum())) for n in spec.reads},
    spec,
  )
  return (
    table,
    spec,
    out[be.bucket_feature('target')].numpy(),
    out[be.enrichment_feature('target')].numpy(),
  )


def test_demo_gate_passes_the_truth_and_fails_negated_and_random(demo):
  table, spec, bucket, enrichment = demo
  truth = -np.log10(table['target_kd'].values)
  defaults = blessing.BlessingConfig()
  rng = np.random.default_rng(0)
  # The Evaluator sees one held-out fifth of the clusters: check each of
  # five random fifths.
  clusters = table['cluster'].unique()
  for seed in range(5):
    held = np.isin(
      table['cluster'],
      np.random.default_rng(seed).choice(
        clusters, len(clusters) // 5, replace=False
      ),
    )

    def metrics(prediction, held=held):
      return am.affinity_metrics(
        prediction[held], bucket[held], enrichment[held], spec.num_levels
      )

    true = metrics(truth)
    assert true.headline_auc > defaults.min_affinity_auc + 0.3
    assert true.spearman_enrichment > defaults.min_affinity_spearman + 0.3
    negated = metrics(-truth)
    assert negated.headline_auc < 0.1
    assert negated.spearman_enrichment < -0.3
    noise = metrics(rng.normal(size=truth.size))
    assert abs(noise.headline_auc - 0.5) < 0.05
    assert abs(noise.spearman_enrichment) < 0.03
    # An uninformative affinity fails on the AUC floor; the Spearman floor
    # (0) only refuses an inverted bulk ranking.
    assert noise.headline_auc < defaults.min_affinity_auc - 0.05
    assert negated.spearman_enrichment < defaults.min_affinity_spearman
