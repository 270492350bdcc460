"""FastqExampleGen's worker functions: TFX's splits without TFX in the workers."""

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2

from components.data.fastq import count_table
from components.data.fastq_example_gen import executor
from components.data.fastq_example_gen import worker_functions

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
    ours = worker_functions.example_proto.Example.FromString(
      tf_example.SerializeToString()
    )
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
  assign = worker_functions.SplitAssigner(buckets, feature)
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


def test_to_examples_writes_the_data_contract():
  table = count_table.Table(
    sequences=count_table.matrix_of(b'ACGT' * 10 + b'TTTT' * 10, 40),
    counts=np.array([[1, 0, 5], [0, 2, 0]], np.int64),
  )
  element = (
    3,
    {
      worker_functions.COUNTS_TAG: [table],
      worker_functions.CLUSTER_FEATURE: [np.array([4, 9])],
    },
  )
  assign = worker_functions.SplitAssigner([8, 9, 10], 'cluster')
  out = list(worker_functions.to_examples(element, COUNT_NAMES, 2, assign))
  parsed = [tf.train.Example.FromString(s) for _, s in out]
  features = [
    {
      name: list(
        getattr(value, value.WhichOneof('kind')).value  # bytes or int64
      )
      for name, value in e.features.feature.items()
    }
    for e in parsed
  ]
  assert features == [
    {
      'sequence': [b'ACGT' * 10],
      'cluster': [4],
      'library': [1],
      'round1_positive': [0],
      'round1_negative': [5],
    },
    {
      'sequence': [b'TTTT' * 10],
      'cluster': [9],
      'library': [0],
      'round1_positive': [2],
      'round1_negative': [0],
    },
  ]
  reparsed = [
    worker_functions.example_proto.Example.FromString(s) for _, s in out
  ]
  assert [i for i, _ in out] == [assign(e)[0] for e in reparsed]


def test_output_config_errors_name_the_problem():
  no_splits = example_gen_pb2.Output()
  with pytest.raises(
    executor.FastqExampleGenError, match='needs output splits'
  ):
    executor._split_assigner(no_splits, ['sequence', 'cluster'])  # pylint: disable=protected-access
  unknown = example_gen_pb2.Output(
    split_config=example_gen_pb2.SplitConfig(
      splits=[example_gen_pb2.SplitConfig.Split(name='train', hash_buckets=1)],
      partition_feature_name='clusters',
    )
  )
  with pytest.raises(
    executor.FastqExampleGenError,
    match="partition_feature_name 'clusters' is not a feature",
  ):
    executor._split_assigner(unknown, ['sequence', 'cluster'])  # pylint: disable=protected-access
