"""TFX ExampleGen's splits and files, built without TFX in the workers."""

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2

from components.data import example_gen_splits
from components.data import split_writing
from schema import example_proto

COUNT_NAMES = ['library', 'round1_positive', 'round1_negative']


def _examples(num):
  """(ours, TensorFlow's) for `num` examples, equal field by field."""
  rng = np.random.default_rng(7)
  pairs = []
  for i in range(num):
    sequence = ''.join(rng.choice(list('ACGT'), 40)).encode()
    cluster = int(rng.integers(0, 10**6)) if i % 3 else i
    counts = rng.integers(0, 1000, len(COUNT_NAMES)).tolist()
    tf_example = tf.train.Example()
    tf_feature = tf_example.features.feature
    tf_feature['sequence'].bytes_list.value.append(sequence)
    tf_feature['cluster'].int64_list.value.append(cluster)
    for name, count in zip(COUNT_NAMES, counts):
      tf_feature[name].int64_list.value.append(count)
    ours = example_proto.Example.FromString(tf_example.SerializeToString())
    pairs.append((ours, tf_example))
  return pairs


@pytest.mark.parametrize(
  'hash_buckets, feature',
  [
    ([8, 1, 1], 'cluster'),  # the repository's train/validation/test split
    ([2, 1], ''),  # TFX's default: whole examples hashed 2:1
    ([3, 5], 'sequence'),
  ],
)
def test_split_assigner_equals_tfx_partition(hash_buckets, feature):
  split_config = example_gen_pb2.SplitConfig(
    splits=[
      example_gen_pb2.SplitConfig.Split(name=f's{i}', hash_buckets=n)
      for i, n in enumerate(hash_buckets)
    ]
  )
  if feature:
    split_config.partition_feature_name = feature
  buckets = list(np.cumsum(hash_buckets))
  assign = split_writing.SplitAssigner(buckets, feature)
  seen = set()
  for ours, theirs in _examples(600):
    index, serialized = assign(ours)
    expected = base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
      theirs, len(buckets), buckets, split_config
    )
    assert index == expected
    assert tf.train.Example.FromString(serialized) == theirs
    seen.add(index)
  assert seen == set(range(len(buckets)))


def test_records_are_parsed_and_assigned_like_examples():
  assign = split_writing.SplitAssigner([8, 9, 10], 'cluster')
  for ours, theirs in _examples(50):
    record = theirs.SerializeToString()
    assert split_writing.assign_record(record, assign) == (
      assign(ours)[0],
      record,
    )
  whole = split_writing.SplitAssigner([2, 3])
  for ours, theirs in _examples(50):
    record = theirs.SerializeToString()
    assert split_writing.assign_record(record, whole)[0] == whole(ours)[0]


def test_an_example_without_the_partition_feature_is_an_error():
  assign = split_writing.SplitAssigner([8, 9, 10], 'cluster')
  example = example_proto.Example()
  example.features.feature['sequence'].bytes_list.value.append(b'ACGT')
  with pytest.raises(
    split_writing.SplitError,
    match="no partition feature 'cluster' \\(it has: sequence\\)",
  ):
    assign(example)


def test_output_config_errors_name_the_problem():
  no_splits = example_gen_pb2.Output()
  with pytest.raises(
    example_gen_splits.OutputConfigError, match='needs output splits'
  ):
    example_gen_splits.split_assigner(
      'FastqExampleGen', no_splits, ['sequence', 'cluster']
    )
  unknown = example_gen_pb2.Output(
    split_config=example_gen_pb2.SplitConfig(
      splits=[example_gen_pb2.SplitConfig.Split(name='train', hash_buckets=1)],
      partition_feature_name='clusters',
    )
  )
  with pytest.raises(
    example_gen_splits.OutputConfigError,
    match="partition_feature_name 'clusters' is not a feature",
  ):
    example_gen_splits.split_assigner(
      'FastqExampleGen', unknown, ['sequence', 'cluster']
    )
