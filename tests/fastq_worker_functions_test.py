"""FastqExampleGen's worker functions: the examples the counts become."""

import numpy as np
import tensorflow as tf

from components.data import split_writing
from components.data.fastq import count_table
from components.data.fastq_example_gen import worker_functions

COUNT_NAMES = ['library', 'round1_positive', 'round1_negative']


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
  reparsed = [
    worker_functions.example_proto.Example.FromString(s) for _, s in out
  ]
  assert [i for i, _ in out] == [assign(e)[0] for e in reparsed]
