"""What the StructureFeatures workers run, and their TensorFlow-free tf.Example."""

import math

import tensorflow as tf

from components.features.structure import folding
from components.features.structure import worker_functions
from schema import example_proto


def _tf_example():
  feature = {
    'sequence': tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[b'ACGT' * 10])
    ),
    'round1': tf.train.Feature(int64_list=tf.train.Int64List(value=[7, -3])),
    'score': tf.train.Feature(float_list=tf.train.FloatList(value=[1.5, -2])),
    'empty': tf.train.Feature(),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature))


def test_bytes_are_identical_both_ways():
  written_by_tf = _tf_example().SerializeToString()
  ours = example_proto.Example.FromString(written_by_tf)
  assert ours.SerializeToString() == written_by_tf
  assert tf.train.Example.FromString(ours.SerializeToString()) == _tf_example()
  feature = ours.features.feature
  assert list(feature['round1'].int64_list.value) == [7, -3]
  assert list(feature['score'].float_list.value) == [1.5, -2.0]
  assert feature['empty'].WhichOneof('kind') is None


def test_join_adds_the_five_features_and_keeps_the_rest():
  fn = worker_functions.AddStructureFeatures(
    folding.FoldingParameters(), ['train', 'eval']
  )
  fn.setup()
  first, second = _tf_example(), _tf_example()
  second.features.feature['round1'].int64_list.value[:] = [99]
  sequence, (split, serialized) = worker_functions.key_by_sequence(
    first.SerializeToString(), 'eval', 1, 'sequence'
  )
  assert (sequence, split) == ('ACGT' * 10, 1)
  groups = {
    worker_functions.EXAMPLES_TAG: [
      (1, serialized),
      (0, second.SerializeToString()),
    ],
    worker_functions.CACHED_TAG: [],
  }
  out = list(fn.process((sequence, groups)))
  new_cache = [o.value for o in out if hasattr(o, 'tag')]
  joined = [o for o in out if not hasattr(o, 'tag')]
  expected = folding.fold(sequence, folding.FoldingParameters())
  assert new_cache == [(sequence, expected)]
  assert [split for split, _ in joined] == [1, 0]
  for (_, record), original in zip(joined, (first, second)):
    parsed = tf.train.Example.FromString(record).features.feature
    for name, value in original.features.feature.items():
      assert parsed[name] == value
    for name in folding.FEATURES:
      [got] = parsed[name].float_list.value
      assert math.isclose(got, expected[name], rel_tol=1e-6)
    assert len(parsed) == len(original.features.feature) + 5


def test_cache_records_round_trip():
  features = folding.fold('GGGGAAAACCCC', folding.FoldingParameters())
  record = worker_functions.features_record('GGGGAAAACCCC', features)
  sequence, parsed = worker_functions.parse_features_record(record)
  assert sequence == 'GGGGAAAACCCC'
  for name in folding.FEATURES:
    assert math.isclose(parsed[name], features[name], rel_tol=1e-6)
  tf_parsed = tf.train.Example.FromString(record).features.feature
  assert tf_parsed['sequence'].bytes_list.value == [b'GGGGAAAACCCC']


def test_workers_log_folding_progress(monkeypatch, caplog):
  monkeypatch.setattr(worker_functions, 'PROGRESS_EVERY', 2)
  fn = worker_functions.AddStructureFeatures(
    folding.FoldingParameters(), ['train']
  )
  fn.setup()
  caplog.set_level('INFO')
  for sequence in ('ACGTACGT', 'GGGGAAAACCCC', 'ATATATAT', 'CCCCGGGG', 'ACGA'):
    example = tf.train.Example()
    example.features.feature['sequence'].bytes_list.value.append(
      sequence.encode()
    )
    groups = {
      worker_functions.EXAMPLES_TAG: [(0, example.SerializeToString())],
      worker_functions.CACHED_TAG: [],
    }
    list(fn.process((sequence, groups)))
  progress = [r.getMessage() for r in caplog.records if 'folded' in r.msg]
  assert len(progress) == 2
  assert progress[0].startswith('StructureFeatures worker: folded 2 sequences')
  assert 'folded 4 sequences' in progress[1]
