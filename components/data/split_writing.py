"""TFX ExampleGen's hash split and split files, without TensorFlow or TFX.

What the Beam workers of our ExampleGen executors (FASTQ and TF Example
import) run to assign each example its split and write it: the same split
as TFX's `base_example_gen_executor._PartitionFn` and the same files as its
`write_split.WriteSplit`. TFX's own functions live in `tfx.components`,
whose import cost every Beam worker about 7.5 s (benchmarks/RESULTS.md,
FastqExampleGen throughput). Nothing here may import tensorflow or tfx.
"""

import bisect
import hashlib
import os
from typing import Iterable
from typing import Sequence
from typing import Tuple

import apache_beam as beam
from apache_beam.io import filesystem

from schema import example_proto

# TFX ExampleGen's file names inside each Split-<name> folder.
OUTPUT_FILE_PREFIX = 'data_tfrecord'
OUTPUT_FILE_SUFFIX = '.gz'


class SplitError(ValueError):
  """An example cannot be assigned a split; the message says why."""


class SplitAssigner:
  """Which output split an example goes to: TFX ExampleGen's hash split.

  The same bucket as TFX's `base_example_gen_executor._PartitionFn`: SHA-256
  of the deterministic serialisation of the partition feature (or of the
  whole example when there is none), modulo the total hash buckets, then
  the first split whose cumulative buckets exceed it. Tests check equality
  with TFX's function.

  Args:
    buckets: cumulative hash buckets per split, e.g. [8, 9, 10].
    partition_feature: the feature hashed ('' = the whole example).
  """

  def __init__(self, buckets: Sequence[int], partition_feature: str = ''):
    self._buckets = list(buckets)
    self._feature = partition_feature

  def __call__(self, example) -> Tuple[int, bytes]:
    """(split index, deterministic serialisation) of an example_proto.Example.

    Raises:
      SplitError: the example lacks the partition feature.
    """
    serialized = example.SerializeToString(deterministic=True)
    return self.index(example, serialized), serialized

  def index(self, example, serialized: bytes = b'') -> int:
    """The split index of an example_proto.Example.

    Args:
      example: the example.
      serialized: its deterministic serialisation, if already made (hashed
        when there is no partition feature).

    Raises:
      SplitError: the example lacks the partition feature (TFX raises
        too; hashing the empty feature would put every such example in
        one split).
    """
    if self._feature:
      feature_map = example.features.feature
      if self._feature not in feature_map:
        raise self.missing_feature_error(feature_map)
      key = feature_map[self._feature].SerializeToString(deterministic=True)
    else:
      key = serialized or example.SerializeToString(deterministic=True)
    return self.index_of_key(key)

  @property
  def partition_feature(self) -> str:
    """The feature hashed; '' when the whole example is."""
    return self._feature

  def missing_feature_error(self, feature_names: Iterable[str]) -> SplitError:
    """The error for an example with only `feature_names`."""
    return SplitError(
      f'an example has no partition feature {self._feature!r} '
      f'(it has: {", ".join(sorted(feature_names)) or "no features"})'
    )

  def index_of_key(self, key: bytes) -> int:
    """The split index of a hashed key.

    Args:
      key: the deterministic serialisation of the partition feature's
        `Feature`, or of the whole example when there is no partition
        feature.
    """
    bucket = int(hashlib.sha256(key).hexdigest(), 16) % self._buckets[-1]
    return bisect.bisect(self._buckets, bucket)


def assign_record(
  serialized: bytes, assign: SplitAssigner
) -> Tuple[int, bytes]:
  """(split index, the record) of one serialized tf.Example record.

  The record is written as it came (TFX's ImportExampleGen writes its
  parser's serialisation, which need not be byte-equal either).

  Raises:
    google.protobuf.message.DecodeError: the record is not a tf.Example.
    SplitError: it lacks the partition feature.
  """
  return assign.index(example_proto.Example.FromString(serialized)), serialized


def assign_records(
  records: Sequence[bytes], assign: SplitAssigner
) -> Iterable[Tuple[int, bytes]]:
  """`assign_record` of each record of a batch."""
  for serialized in records:
    yield assign_record(serialized, assign)


def split_of(element: Tuple[int, bytes], num_partitions: int) -> int:
  """beam.Partition function of (split index, example) pairs."""
  del num_partitions  # The split index is the partition.
  return element[0]


@beam.ptransform_fn
def WriteSplit(  # pylint: disable=invalid-name
  serialized: beam.pvalue.PCollection, split_uri: str
) -> beam.pvalue.PDone:
  """Writes serialized examples where TFX's ExampleGen writes a split.

  The same files as TFX's `write_split.WriteSplit` (gzip TFRecords named
  `data_tfrecord-*.gz`) without its Reshuffle: the record order inside the
  files carries no meaning, and every reader downstream shuffles.
  """
  return serialized | 'Write' >> beam.io.WriteToTFRecord(
    os.path.join(split_uri, OUTPUT_FILE_PREFIX),
    file_name_suffix=OUTPUT_FILE_SUFFIX,
    compression_type=filesystem.CompressionTypes.GZIP,
  )
