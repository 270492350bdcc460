"""Per-epoch evaluation tables: metrics, per-output loss, logs and report."""

import json

import numpy as np
import pytest
import tensorflow as tf

from components.evaluation import rank_metrics
from components.model import losses
from components.training import epoch_evaluation


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
  assert logs['val_loss'] == table['mean']['loss']
  assert 'loss' not in logs  # The training loss is Keras' own.


def test_validation_loss_equals_a_keras_evaluation_pass():
  # The loss Keras computed in its own validation pass, which the training
  # loop no longer makes, with no target unobserved.
  import keras

  rng = np.random.default_rng(1)
  x = rng.normal(size=(3000, 4)).astype(np.float32)
  y = rng.normal(size=(3000, 2)).astype(np.float32)
  inputs = keras.Input((4,))
  model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
  model.compile(loss=losses.LOSSES['SQUARED_ERROR'])
  keras_loss = model.evaluate(x, y, batch_size=1024, verbose=0)
  callback = epoch_evaluation.EpochEvaluation(
    predict_fn=epoch_evaluation.compiled_predict_fn(model),
    datasets={'validation': (x, (np.zeros_like(y, np.float64), y))},
    output_names=['a', 'b'],
    loss_fn=lambda t, p: losses.per_example_and_target('SQUARED_ERROR', t, p),
    print_fn=None,
    summary_fn=None,
  )
  logs = {}
  callback.on_epoch_end(0, logs)
  assert logs['val_loss'] == pytest.approx(keras_loss, rel=1e-5)


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
  dataset = tf.data.Dataset.from_tensor_slices(
    ({'x': np.arange(10)}, (np.arange(10) * 2, np.arange(10) * 3))
  ).batch(4)
  inputs, (raw, norm) = epoch_evaluation.materialize(dataset, limit=6)
  assert inputs['x'].tolist() == list(range(6))
  assert raw.tolist() == [0, 2, 4, 6, 8, 10] and len(norm) == 6


def _split(n, batch=4):
  """One reshuffled pass over n examples: ({'x': id}, (id, -id)) batches."""
  ids = np.arange(n)
  return (
    tf.data.Dataset.from_tensor_slices(({'x': ids}, (ids, -ids)))
    .shuffle(max(n, 1), seed=1)
    .batch(batch)
  )


def _ids(sample):
  inputs, (raw, norm) = sample
  assert (raw == -norm).all() and (inputs['x'] == raw).all()
  return inputs['x'].tolist()


def test_shuffled_queue_draws_consecutive_stretches_of_reshuffled_passes():
  queue = epoch_evaluation.ShuffledQueue(_split(10), size=4)
  draws = [_ids(queue.draw()) for _ in range(5)]
  assert all(len(d) == 4 for d in draws)
  stream = sum(draws, [])
  # Every example once per pass; each pass in a new order.
  first, second = stream[:10], stream[10:20]
  assert sorted(first) == sorted(second) == list(range(10))
  assert first != second
  assert draws[0] != draws[1]


def test_shuffled_queue_returns_a_small_split_whole_without_repeats():
  queue = epoch_evaluation.ShuffledQueue(_split(6), size=10)
  first = _ids(queue.draw())
  assert sorted(first) == list(range(6))
  assert _ids(queue.draw()) == first


def test_shuffled_queue_rejects_empty_splits_and_sizes():
  with pytest.raises(ValueError, match='no examples'):
    epoch_evaluation.ShuffledQueue(_split(0), size=3).draw()
  with pytest.raises(ValueError, match='at least 1'):
    epoch_evaluation.ShuffledQueue(_split(5), size=0)


def _in_memory(n):
  ids = np.arange(n)
  return ({'x': ids}, (ids, -ids))


def test_in_memory_sample_draws_new_samples_repeatably_by_seed():
  sample = epoch_evaluation.InMemorySample(_in_memory(100), size=30, seed=4)
  draws = [_ids(sample.draw()) for _ in range(3)]
  for d in draws:
    assert len(d) == 30 and len(set(d)) == 30 and set(d) <= set(range(100))
    assert d != sorted(d)  # Shuffled, not a stretch of the split's order.
  assert draws[0] != draws[1] != draws[2]
  again = epoch_evaluation.InMemorySample(_in_memory(100), size=30, seed=4)
  assert [_ids(again.draw()) for _ in range(3)] == draws
  other = epoch_evaluation.InMemorySample(_in_memory(100), size=30, seed=5)
  assert _ids(other.draw()) != draws[0]


def test_in_memory_sample_draws_views_without_copies():
  sample = epoch_evaluation.InMemorySample(_in_memory(1000), size=300, seed=1)
  first, second = sample.draw(), sample.draw()
  for drawn in (first, second):
    for array in tf.nest.flatten(drawn):
      assert array.base is not None  # A view into the shuffled ring.
  # Both views share the ring's memory.
  assert np.shares_memory(first[0]['x'].base, second[0]['x'].base)


def test_in_memory_sample_covers_the_split_uniformly():
  sample = epoch_evaluation.InMemorySample(_in_memory(20), size=5, seed=0)
  seen = np.zeros(20)
  for _ in range(400):
    seen[_ids(sample.draw())] += 1
  # Each example is drawn with probability 1/4: 100 of 400 draws, sd 8.7.
  assert seen.min() > 60 and seen.max() < 140


def test_in_memory_sample_returns_a_small_split_whole():
  sample = epoch_evaluation.InMemorySample(_in_memory(6), size=10, seed=0)
  assert _ids(sample.draw()) == list(range(6)) == _ids(sample.draw())
  with pytest.raises(ValueError, match='no examples'):
    epoch_evaluation.InMemorySample(_in_memory(0), size=3, seed=0)
  with pytest.raises(ValueError, match='at least 1'):
    epoch_evaluation.InMemorySample(_in_memory(5), size=0, seed=0)


def test_each_evaluation_scores_a_new_sample(tmp_path):
  seen = []

  def predict(inputs):
    seen.append(inputs['x'].tolist())
    return np.zeros((len(inputs['x']), 1), np.float32)

  ids = np.arange(50)
  counts = ids.reshape(-1, 1).astype(np.float64)
  split = (
    tf.data.Dataset.from_tensor_slices(({'x': ids}, (counts, counts)))
    .shuffle(50, seed=2)
    .batch(8)
  )
  callback = epoch_evaluation.EpochEvaluation(
    predict_fn=predict,
    datasets={'validation': epoch_evaluation.ShuffledQueue(split, 20)},
    output_names=['a'],
    loss_fn=lambda y, p: losses.per_example_and_target('SQUARED_ERROR', y, p),
    print_fn=None,
  )
  callback.on_train_begin()
  callback.on_epoch_end(0, {})
  assert [len(s) for s in seen] == [20, 20]
  assert not set(seen[0]) & set(seen[1])  # Both within the first pass.
  assert callback.tables[-1]['tables']['validation']['a']['count'] == 20


def test_console_gets_one_mean_line_per_split_and_the_log_every_table():
  rng = np.random.default_rng(1)
  counts = rng.poisson(2.0, (50, 2)).astype(np.float64)
  data = (np.zeros((50, 1), np.float32), (counts, np.log1p(counts)))
  full, summary = [], []
  callback = epoch_evaluation.EpochEvaluation(
    predict_fn=lambda x: np.log1p(counts) + rng.normal(0, 0.1, counts.shape),
    datasets={'training': data, 'validation': data},
    output_names=['a', 'b'],
    loss_fn=lambda y, p: losses.per_example_and_target('SQUARED_ERROR', y, p),
    print_fn=full.append,
    summary_fn=summary.append,
  )
  callback.on_train_begin()
  callback.on_epoch_end(0, {})
  callback.on_epoch_end(1, {})
  # Every table in full (header, a, b, mean), for each split and epoch.
  assert len(full) == 6
  assert all(len(t.strip().splitlines()) == 5 for t in full)
  # One header, then one line per split and evaluation.
  assert len(summary) == 7
  assert 'mean over 2 outputs' in summary[0]
  assert summary[0].splitlines()[-1].split()[:4] == [
    'epoch',
    'split',
    'examples',
    'loss',
  ]
  rows = [line.split() for line in summary[1:]]
  assert [(r[0], r[1], r[2]) for r in rows] == [
    ('pre', 'training', '50'),
    ('pre', 'validation', '50'),
    ('1', 'training', '50'),
    ('1', 'validation', '50'),
    ('2', 'training', '50'),
    ('2', 'validation', '50'),
  ]
  # The summary's AUC is the mean row's, to the printed precision.
  mean = callback.tables[-1]['tables']['validation']['mean']
  assert float(rows[-1][4]) == pytest.approx(mean['auc/true_top_1p'], abs=1e-4)


def test_compiled_predictions_equal_keras_predict():
  """The report's compiled path gives model.predict's numbers, in order."""
  one_hot = tf.keras.Input((12,), name='one_hot')
  kmers = tf.keras.Input((5,), name='kmers')
  hidden = tf.keras.layers.Dense(7, activation='tanh')(
    tf.keras.layers.Concatenate()([one_hot, kmers])
  )
  model = tf.keras.Model([one_hot, kmers], tf.keras.layers.Dense(3)(hidden))
  rng = np.random.default_rng(1)
  inputs = {
    'one_hot': rng.normal(size=(1003, 12)).astype(np.float32),
    'kmers': rng.normal(size=(1003, 5)).astype(np.float32),
  }
  # 1003 = 3 full batches of 300 and a partial one.
  predict = epoch_evaluation.compiled_predict_fn(model, batch_size=300)
  compiled = predict(inputs)
  expected = model.predict(inputs, batch_size=4096, verbose=0)
  assert compiled.shape == (1003, 3)
  np.testing.assert_allclose(compiled, expected, rtol=1e-5, atol=1e-6)
  # A second call reuses the traced function and gives the same numbers.
  np.testing.assert_array_equal(predict(inputs), compiled)


def test_report_records_seconds_per_split(tmp_path):
  callback, _, _ = _callback(tmp_path, np.zeros((200, 2), np.float32))
  callback.on_epoch_end(0, {})
  record = json.loads((tmp_path / 'report.jsonl').read_text().splitlines()[-1])
  parts = record['seconds']['validation']
  assert set(parts) == {'draw', 'predict', 'metrics'}
  assert all(value >= 0 for value in parts.values())
