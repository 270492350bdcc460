"""Finds the file and record a broken TFRecord dataset first fails at.

ImportExampleGen reads the input files inside Beam, where a truncated or
corrupted gzip TFRecord surfaces as a hex dump (`Not a valid TFRecord`) or a
`zlib.error` naming no file. The runner calls `first_bad_record` when a run
fails with such an error, to tell the user which file to fix.

One problem Beam does not raise at all: a gzip file cut exactly between two
records reads as a shorter, valid file. So before ingesting, the runner
calls `first_silent_problem`, which only decompresses each gzip stream to
its end (about 0.5 s for a million examples, where parsing every record in
`check_file` takes 35 s) and hands a file with a problem to `check_file`
for the record it fails at.
"""

import dataclasses
import gzip
from typing import Iterable
from typing import Optional
import zlib

from google.protobuf import message
import tensorflow as tf

# Errors a broken input file raises inside ImportExampleGen (a record that
# is not a tf.Example fails its parse there).
READ_ERRORS = (
  tf.errors.DataLossError,
  zlib.error,
  EOFError,
  message.DecodeError,
)
_READ_ERROR_TEXT = (
  'Not a valid TFRecord',
  'decompress',
  'corrupted record',
  'Error parsing message',
)


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
    _gzip_size(path)
  except EOFError:
    return 'is cut short (no end-of-stream marker)'
  except (OSError, zlib.error) as e:
    return f'is corrupt ({e})'
  return ''


def _gzip_size(path: str) -> int:
  """Bytes in a gzip file's whole stream; raises where it is broken."""
  size = 0
  with tf.io.gfile.GFile(path, 'rb') as raw:
    with gzip.GzipFile(fileobj=raw) as stream:
      while chunk := stream.read(1 << 20):
        size += len(chunk)
  return size


def _looks_whole(path: str) -> bool:
  """Whether a file has data and, if gzip, a whole, valid stream."""
  if not path.endswith('.gz'):
    return tf.io.gfile.stat(path).length > 0
  try:
    return _gzip_size(path) > 0
  except (EOFError, OSError, zlib.error):
    return False


def first_bad_record(paths: Iterable[str]) -> Optional[BadRecord]:
  """The first unreadable record over `paths`, in sorted order."""
  for path in sorted(paths):
    bad = check_file(path)
    if bad is not None:
      return bad
  return None


def first_silent_problem(paths: Iterable[str]) -> Optional[BadRecord]:
  """The first file, in sorted order, that Beam could read short or empty.

  A gzip stream cut short or corrupt, or a file with no data, is checked
  record by record (`check_file`) to name where it fails. Other damage
  (a plain file cut inside a record, a record that is not a tf.Example)
  fails inside ImportExampleGen, and `first_bad_record` names it then.
  """
  for path in sorted(paths):
    if not _looks_whole(path):
      bad = check_file(path)
      if bad is not None:
        return bad
  return None
