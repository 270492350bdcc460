"""FastqExampleGen's worker functions: the examples the counts become."""

import numpy as np
import pytest
import tensorflow as tf

from components.data import split_writing
from components.data.fastq import count_table
from components.data.fastq_example_gen import worker_functions
from schema import example_proto

COUNT_NAMES = ['library', 'round1_positive', 'round1_negative']


def _element(sequences, counts, clusters):
  length = len(sequences[0])
  table = count_table.Table(
    sequences=count_table.matrix_of(b''.join(sequences), length),
    counts=np.array(counts, np.int64),
  )
  return (
    3,
    {
      worker_functions.COUNTS_TAG: [table],
      worker_functions.CLUSTER_FEATURE: [np.array(clusters, np.int64)],
    },
  )


def test_to_examples_writes_the_data_contract():
  element = _element(
    [b'ACGT' * 10, b'TTTT' * 10], [[1, 0, 5], [0, 2, 0]], [4, 9]
  )
  assign = split_writing.SplitAssigner([8, 9, 10], 'cluster')
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


@pytest.mark.parametrize(
  'feature', ['cluster', 'sequence', 'round1_positive', '']
)
def test_to_examples_bytes_and_splits_equal_the_protobuf_path(feature):
  # What the executor wrote before building the bytes directly: a message
  # per example, deterministically serialised, split by SplitAssigner.
  rng = np.random.default_rng(3)
  num = 400
  bases = np.frombuffer(b'ACGT', np.uint8)
  sequences = [rng.choice(bases, 40).tobytes() for _ in range(num)]
  sequences = sorted(set(sequences))
  counts = rng.integers(0, 300, (len(sequences), len(COUNT_NAMES)))
  clusters = rng.integers(1, 60, len(sequences))
  element = _element(sequences, counts, clusters)
  assign = split_writing.SplitAssigner([4, 7, 10], feature)
  got = list(worker_functions.to_examples(element, COUNT_NAMES, 2, assign))
  expected = []
  for sequence, row, cluster in zip(sequences, counts, clusters):
    example = example_proto.Example()
    feature_map = example.features.feature
    feature_map['sequence'].bytes_list.value.append(sequence)
    feature_map['cluster'].int64_list.value.append(int(cluster))
    for name, count in zip(COUNT_NAMES, row):
      feature_map[name].int64_list.value.append(int(count))
    expected.append(assign(example))
  assert got == expected
  assert {index for index, _ in got} == {0, 1, 2}


def test_an_unknown_partition_feature_is_an_error_naming_it():
  element = _element([b'ACGT' * 10], [[1, 0, 5]], [4])
  assign = split_writing.SplitAssigner([8, 9, 10], 'gc')
  with pytest.raises(
    split_writing.SplitError,
    match="no partition feature 'gc' \\(it has: cluster, library, ",
  ):
    list(worker_functions.to_examples(element, COUNT_NAMES, 2, assign))
