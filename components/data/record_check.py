"""Finds the file and record a broken TFRecord dataset first fails at.

ImportExampleGen reads the input files inside Beam, where a truncated or
corrupted gzip TFRecord surfaces as a hex dump (`Not a valid TFRecord`) or a
`zlib.error` naming no file. The runner calls `first_bad_record` when a run
fails with such an error, to tell the user which file to fix; a clean
dataset costs nothing, since nothing is read until something failed.
"""

import dataclasses
import gzip
from typing import Iterable
from typing import Optional
import zlib

from google.protobuf import message
import tensorflow as tf

# Errors a broken input file raises inside ImportExampleGen.
READ_ERRORS = (tf.errors.DataLossError, zlib.error, EOFError)
_READ_ERROR_TEXT = ('Not a valid TFRecord', 'decompress', 'corrupted record')


@dataclasses.dataclass(frozen=True)
class BadRecord:
  """Where and why a TFRecord file cannot be read."""

  path: str
  record: int  # 0-based index of the first unreadable record.
  reason: str

  def describe(self) -> str:
    return (
      f'{self.path}: record {self.record} cannot be read ({self.reason}); '
      f'records 0..{self.record - 1} are fine. The file is truncated or '
      'corrupted: export it again, or remove it from the dataset directory.'
    )


def is_read_error(error: BaseException) -> bool:
  """Whether an exception looks like an unreadable input file."""
  return isinstance(error, READ_ERRORS) or any(
    text in str(error) for text in _READ_ERROR_TEXT
  )


def check_file(path: str) -> Optional[BadRecord]:
  """The first unreadable record of one file, or None if all parse.

  Gzip is assumed for names ending in `.gz`, as ImportExampleGen does.
  Every record must also be a `tf.train.Example`.
  """
  compression = 'GZIP' if path.endswith('.gz') else ''
  index = 0
  try:
    for record in tf.data.TFRecordDataset(path, compression_type=compression):
      try:
        tf.train.Example.FromString(record.numpy())
      except message.DecodeError as e:
        return BadRecord(path, index, f'not a tf.Example: {e}')
      index += 1
  except tf.errors.OpError as e:
    return BadRecord(path, index, e.message.split('\n')[0])
  if compression:
    # TensorFlow's gzip reader ends quietly when a cut falls between two
    # records; Python's gzip (what ImportExampleGen's Beam reader uses)
    # insists on the end-of-stream marker and the checksum.
    problem = _gzip_problem(path)
    if problem:
      return BadRecord(path, index, f'the gzip stream {problem}')
  if index == 0:
    return BadRecord(path, 0, 'the file holds no records')
  return None


def _gzip_problem(path: str) -> str:
  """What is wrong with a gzip file's stream ('' when it is whole)."""
  try:
    with tf.io.gfile.GFile(path, 'rb') as raw:
      with gzip.GzipFile(fileobj=raw) as stream:
        while stream.read(1 << 20):
          pass
  except EOFError:
    return 'is cut short (no end-of-stream marker)'
  except (OSError, zlib.error) as e:
    return f'is corrupt ({e})'
  return ''


def first_bad_record(paths: Iterable[str]) -> Optional[BadRecord]:
  """The first unreadable record over `paths`, in sorted order."""
  for path in sorted(paths):
    bad = check_file(path)
    if bad is not None:
      return bad
  return None
