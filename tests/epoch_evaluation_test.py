"""Per-epoch evaluation tables: metrics, per-output loss, logs and report."""

import json

import numpy as np
import pytest

from components import epoch_evaluation
from components import losses
from components import rank_metrics


def _callback(tmp_path, predictions):
  rng = np.random.default_rng(0)
  counts = rng.poisson(2.0, (200, 2)).astype(np.float64)
  targets = np.log1p(counts).astype(np.float32)
  targets[:5, 1] = np.nan  # Unobserved: no loss there.
  inputs = np.zeros((200, 3), np.float32)
  return (
    epoch_evaluation.EpochEvaluation(
      predict_fn=lambda x: predictions,
      datasets={'validation': (inputs, (counts, targets))},
      output_names=['a', 'b'],
      loss_fn=lambda y, p: losses.per_example_and_target('SQUARED_ERROR', y, p),
      report_path=str(tmp_path / 'report.jsonl'),
      print_fn=None,
    ),
    counts,
    targets,
  )


def test_tables_have_per_output_loss_and_the_mean_row(tmp_path):
  predictions = np.full((200, 2), 0.5, np.float32)
  callback, counts, targets = _callback(tmp_path, predictions)
  logs = {}
  callback.on_epoch_end(0, logs)
  table = callback.tables[-1]['tables']['validation']
  expected_a = np.mean((targets[:, 0] - 0.5) ** 2)
  expected_b = np.nanmean((targets[:, 1] - 0.5) ** 2)
  assert table['a']['loss'] == pytest.approx(expected_a, rel=1e-5)
  assert table['b']['loss'] == pytest.approx(expected_b, rel=1e-5)
  assert table['mean']['loss'] == pytest.approx(
    (expected_a + expected_b) / 2, rel=1e-5
  )
  reference = rank_metrics.evaluation_table(counts, predictions, ['a', 'b'])
  assert table['a']['count'] == reference['a']['count'] == 200
  # The mean metrics reach the Keras logs with the val_ prefix.
  assert logs['val_auc/true_top_1p'] == reference['mean']['auc/true_top_1p']


def test_report_is_strict_json_lines(tmp_path):
  callback, _, _ = _callback(tmp_path, np.zeros((200, 2), np.float32))
  callback.on_train_begin()
  callback.on_epoch_end(0, {})
  lines = (tmp_path / 'report.jsonl').read_text().splitlines()
  records = [json.loads(line) for line in lines]  # No NaN tokens.
  assert [r['epoch'] for r in records] == [0, 1]
  # Constant predictions: correlations are undefined, written as null.
  assert (
    records[1]['tables']['validation']['a']['spearman_correlation/score_all']
    is None
  )


def test_materialize_keeps_structure_and_limit():
  import tensorflow as tf

  dataset = tf.data.Dataset.from_tensor_slices(
    ({'x': np.arange(10)}, (np.arange(10) * 2, np.arange(10) * 3))
  ).batch(4)
  inputs, (raw, norm) = epoch_evaluation.materialize(dataset, limit=6)
  assert inputs['x'].tolist() == list(range(6))
  assert raw.tolist() == [0, 2, 4, 6, 8, 10] and len(norm) == 6
