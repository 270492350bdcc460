"""Hand-built tf.Example bytes are protobuf's deterministic serialisation."""

import numpy as np
import pytest
import tensorflow as tf
import tf_example_bytes

from schema import example_bytes


def test_example_bytes_are_protobuf_deterministic_serialization():
  rng = np.random.default_rng(7)
  names = ['library', 'cluster', 'round2_high_no_serum_positive', 'Z', 'b_1']
  num = 3000
  int64_columns = {}
  for k, name in enumerate(names):
    # Small counts, then every varint length, zero and negative values.
    bits = rng.integers(0, 64 if k % 2 else 8, num)
    values = [int(rng.integers(0, 2 ** int(b))) for b in bits]
    if k == 3:
      values = [-v - 1 if i % 5 == 0 else v for i, v in enumerate(values)]
    int64_columns[name] = values
  sequences = [
    ''.join(rng.choice(list('ACGT'), int(rng.integers(0, 300)))).encode()
    for _ in range(num)
  ]
  got = list(example_bytes.examples(int64_columns, {'sequence': sequences}))
  assert len(got) == num
  for i, record in enumerate(got):
    expected = tf_example_bytes.proto_bytes(
      {n: v[i] for n, v in int64_columns.items()}, {'sequence': sequences[i]}
    )
    assert record == expected, i


@pytest.mark.parametrize('value', [0, 1, 127, 128, 300, 2**40, -1, -(2**63)])
def test_an_int64_feature_is_its_deterministic_serialisation(value):
  feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
  expected = feature.SerializeToString(deterministic=True)
  assert example_bytes.int64_feature(value) == expected


@pytest.mark.parametrize('value', [b'', b'ACGT', b'A' * 200])
def test_a_bytes_feature_is_its_deterministic_serialisation(value):
  feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
  expected = feature.SerializeToString(deterministic=True)
  assert example_bytes.bytes_feature(value) == expected


def test_example_bytes_reject_clashing_or_ragged_columns():
  with pytest.raises(ValueError, match='both int64 and bytes'):
    list(example_bytes.examples({'a': [1]}, {'a': [b'x']}))
  with pytest.raises(ValueError, match='differ in length'):
    list(example_bytes.examples({'a': [1, 2]}, {'b': [b'x']}))
