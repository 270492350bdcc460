"""Streaming FASTQ records from plain or gzip files, single or paired.

A record is four lines: `@<id>`, the bases, `+[<id>]`, the qualities (one
character per base, Phred+33). Gzip is detected by the magic bytes, not by
the file name. Every problem raises `FastqError` naming the file, the record
number (from 1) and, where one applies, the line number (from 1); records
before the problem have been yielded already, so a reader that stops at the
error has seen exactly the good prefix.

The functions are pure and hold no state between calls, so a Beam DoFn can
call them. Files are opened with `open(path, 'rb')` unless an `open_binary`
callable is passed (e.g. `tf.io.gfile.GFile` or Beam's
`FileSystems.open` for remote paths).
"""

import gzip
import re
from typing import BinaryIO
from typing import Callable
from typing import Iterable
from typing import Iterator
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import Tuple
import zlib

from isal import igzip
from isal import isal_zlib
import numpy as np

GZIP_MAGIC = b'\x1f\x8b'
PHRED_OFFSET = 33
# Phred+33 characters run from '!' (Q0) to '~' (Q93).
MAX_PHRED = 93

# What a damaged gzip stream raises: ISA-L's errors are zlib's and gzip's,
# except its own for a corrupt deflate block.
_GZIP_ERRORS = (EOFError, zlib.error, isal_zlib.error, gzip.BadGzipFile)

OpenBinary = Callable[[str], BinaryIO]


class FastqError(ValueError):
  """A FASTQ file (or pair of files) that cannot be read as records."""


class FastqRecord(NamedTuple):
  """One FASTQ record.

  Attributes:
    number: the record's position in its file, from 1.
    read_id: the header line without the leading '@'.
    sequence: the bases as written.
    quality: the Phred+33 quality string, as long as `sequence`.
  """

  number: int
  read_id: str
  sequence: str
  quality: str


def _open_binary(path: str) -> BinaryIO:
  return open(path, 'rb')


def _open_stream(path: str, open_binary: OpenBinary) -> BinaryIO:
  """The file's decompressed byte stream (gzip detected by magic bytes)."""
  raw = open_binary(path)
  magic = raw.read(2)
  raw.seek(0)
  if magic == GZIP_MAGIC:
    # ISA-L inflates the same gzip streams about 3x faster than zlib
    # (decompression was about a fifth of a worker's time per read pair).
    return igzip.IGzipFile(fileobj=raw, mode='rb')
  return raw


def read_fastq(
  path: str, open_binary: Optional[OpenBinary] = None
) -> Iterator[FastqRecord]:
  """Yields the records of one FASTQ file, plain or gzip.

  Args:
    path: the file.
    open_binary: opens `path` for binary reading (default: builtin open).

  Yields:
    FastqRecord, numbered from 1.

  Raises:
    FastqError: the file is empty, a record is malformed or incomplete, a
      quality string's length differs from its sequence's, or the gzip
      stream is truncated or corrupt.
  """
  last_good = 0
  with _open_stream(path, open_binary or _open_binary) as stream:
    try:
      for record in _parse(path, stream):
        last_good = record.number
        yield record
    except _GZIP_ERRORS as e:
      raise FastqError(
        f'{path}: the gzip stream is truncated or corrupt ({e}) after '
        f'record {last_good}, the last good record; record '
        f'{last_good + 1} cannot be read. Copy or export the file again.'
      ) from e


def _parse(path: str, stream: BinaryIO) -> Iterator[FastqRecord]:
  """The records of a decompressed stream (see read_fastq)."""
  line_number = 0
  number = 0
  while True:
    header = stream.readline()
    line_number += 1
    if not header:
      break
    header = header.rstrip(b'\r\n')
    if not header:
      _check_only_blank_lines_follow(path, stream, line_number, number)
      break
    number += 1
    header_line = line_number
    lines = []
    for _ in range(3):
      line = stream.readline()
      if not line:
        raise FastqError(
          f'{path}: record {number} (line {header_line}) is incomplete: '
          f'the file ends after {len(lines) + 1} of its 4 lines'
        )
      line_number += 1
      lines.append(line.rstrip(b'\r\n'))
    sequence, separator, quality = lines
    if not header.startswith(b'@'):
      raise FastqError(
        f'{path}: record {number}, line {header_line}: a header must start '
        f'with "@", found {_show(header)}'
      )
    if not separator.startswith(b'+'):
      raise FastqError(
        f'{path}: record {number}, line {header_line + 2}: the separator '
        f'line must start with "+", found {_show(separator)} (is a record '
        'missing a line?)'
      )
    if len(quality) != len(sequence):
      raise FastqError(
        f'{path}: record {number}, line {header_line + 3}: the quality '
        f'string has {len(quality)} characters but the sequence has '
        f'{len(sequence)} bases'
      )
    try:
      yield FastqRecord(
        number,
        header[1:].decode('utf-8'),
        sequence.decode('ascii'),
        quality.decode('ascii'),
      )
    except UnicodeDecodeError as e:
      raise FastqError(
        f'{path}: record {number} (line {header_line}) holds a character '
        f'that is not ASCII text ({e})'
      ) from e
  if number == 0:
    raise FastqError(f'{path}: record 1: the file is empty (no FASTQ records)')


def _check_only_blank_lines_follow(path, stream, line_number, number):
  """Allows blank lines at the end of a file, and nowhere else."""
  blank_line = line_number
  for line in stream:
    line_number += 1
    if line.strip():
      raise FastqError(
        f'{path}: after record {number}, line {blank_line} is blank but '
        f'line {line_number} holds more text: a record is broken there'
      )


def _show(line: bytes, limit: int = 40) -> str:
  text = line.decode('ascii', 'replace')
  return repr(text if len(text) <= limit else text[:limit] + '...')


def pair_id(read_id: str) -> str:
  """The part of a read id that names the pair.

  Everything after the first whitespace is dropped (Casava 1.8 puts the
  mate number there), and so is a trailing `/1` or `/2` (older Illumina).
  """
  parts = read_id.split(maxsplit=1)
  name = parts[0] if parts else ''
  if name.endswith(('/1', '/2')):
    name = name[:-2]
  return name


def read_pairs(
  r1_path: str, r2_path: str, open_binary: Optional[OpenBinary] = None
) -> Iterator[Tuple[FastqRecord, FastqRecord]]:
  """Yields the (R1, R2) records of a paired-end file pair, in step.

  Args:
    r1_path: the forward-read file.
    r2_path: the reverse-read file.
    open_binary: as for read_fastq.

  Yields:
    (r1_record, r2_record) with equal record numbers.

  Raises:
    FastqError: either file is broken (see read_fastq), the files hold
      different numbers of records, or a pair's read ids differ.
  """
  r1_records = read_fastq(r1_path, open_binary)
  r2_records = read_fastq(r2_path, open_binary)
  number = 0
  while True:
    r1 = next(r1_records, None)
    r2 = next(r2_records, None)
    if r1 is None and r2 is None:
      return
    number += 1
    if r1 is None or r2 is None:
      ended, other = (r1_path, r2_path) if r1 is None else (r2_path, r1_path)
      raise FastqError(
        f'paired files {r1_path} (R1) and {r2_path} (R2) hold different '
        f'numbers of records: {ended} ends after record {number - 1} but '
        f'{other} has a record {number}'
      )
    if pair_id(r1.read_id) != pair_id(r2.read_id):
      raise FastqError(
        f'paired files {r1_path} (R1) and {r2_path} (R2): record {number} '
        f'does not pair: R1 id {r1.read_id!r}, R2 id {r2.read_id!r} (are '
        'the files out of order, or from different runs?)'
      )
    yield r1, r2


def chain_files(
  paths: Sequence[str], open_binary: Optional[OpenBinary] = None
) -> Iterator[Tuple[str, FastqRecord]]:
  """Yields (path, record) over the lanes of one read, file by file.

  Record numbers restart at 1 in each file, so (path, number) names a
  record exactly.
  """
  for path in paths:
    for record in read_fastq(path, open_binary):
      yield path, record


def chain_pairs(
  path_pairs: Iterable[Tuple[str, str]],
  open_binary: Optional[OpenBinary] = None,
) -> Iterator[Tuple[Tuple[str, str], FastqRecord, FastqRecord]]:
  """Yields ((r1_path, r2_path), r1, r2) over the lanes of one read pair."""
  for r1_path, r2_path in path_pairs:
    for r1, r2 in read_pairs(r1_path, r2_path, open_binary):
      yield (r1_path, r2_path), r1, r2


def phred_scores(quality: str) -> np.ndarray:
  """Decodes a Phred+33 quality string to uint8 scores.

  Raises:
    ValueError: a character is outside Phred+33 ('!' to '~').
  """
  codes = np.frombuffer(quality.encode('ascii'), np.uint8)
  if codes.size and (codes.min() < PHRED_OFFSET or codes.max() > 126):
    bad = next(c for c in quality if not PHRED_OFFSET <= ord(c) <= 126)
    raise ValueError(
      f'quality string {quality!r} holds {bad!r}, which is not Phred+33'
    )
  return codes - np.uint8(PHRED_OFFSET)


# Batches: the same records, many at a time, for readers whose cost per
# record matters (FastqExampleGen). The fast path below accepts only what
# it can check in bulk; anything else (a decompression error, a malformed
# or non-ASCII block, blank lines, CR line ends) sends the file through
# read_fastq / read_pairs again, from the start, skipping the records
# already yielded, so the records and errors are exactly theirs.
_BLOCK_BYTES = 1 << 20
# Bytes str.split() takes for whitespace but bytes.split() does not.
_STR_ONLY_WHITESPACE = b'\x1c\x1d\x1e\x1f'


class FastqBatch(NamedTuple):
  """Consecutive records of one file.

  Attributes:
    first_number: the first record's number (from 1).
    read_ids: the header lines without '@', as bytes.
    sequences: the bases as ASCII bytes.
    qualities: the Phred+33 quality strings as bytes.
  """

  first_number: int
  read_ids: Sequence[bytes]
  sequences: Sequence[bytes]
  qualities: Sequence[bytes]


class _SlowPath(Exception):
  """The fast path met something it does not check; use read_fastq."""


def _fast_batches(path: str, open_binary: OpenBinary) -> Iterator[FastqBatch]:
  """Whole blocks of well-formed records; raises _SlowPath on anything else."""
  number = 0
  carry = b''
  try:
    with _open_stream(path, open_binary) as stream:
      while True:
        block = stream.read(_BLOCK_BYTES)
        data = carry + block
        if b'\r' in data or not data.isascii():
          raise _SlowPath()
        lines = data.split(b'\n')
        if block:
          complete = (len(lines) - 1) // 4 * 4
        else:
          # The end: only the newline after the last record may be left.
          complete = len(lines) // 4 * 4
          if lines[complete:] not in ([], [b'']) or not (number or complete):
            raise _SlowPath()
        if complete:
          batch = _checked_batch(lines[:complete], number + 1)
          yield batch
          number += len(batch.sequences)
        if not block:
          return
        carry = b'\n'.join(lines[complete:])
  except (*_GZIP_ERRORS, OSError) as e:
    raise _SlowPath() from e


def _checked_batch(lines: List[bytes], first_number: int) -> FastqBatch:
  headers, sequences = lines[0::4], lines[1::4]
  separators, qualities = lines[2::4], lines[3::4]
  count = len(headers)
  if (
    [h[:1] for h in headers].count(b'@') != count
    or [s[:1] for s in separators].count(b'+') != count
    or list(map(len, sequences)) != list(map(len, qualities))
  ):
    raise _SlowPath()
  return FastqBatch(
    first_number, [h[1:] for h in headers], sequences, qualities
  )


def _batches_of(records_: Iterable[FastqRecord], size: int):
  """FastqBatch of per-record results (the slow path); a good prefix first."""
  batch: List[FastqRecord] = []
  try:
    for record in records_:
      batch.append(record)
      if len(batch) >= size:
        yield _batch_of(batch)
        batch = []
  except FastqError:
    # The records before an error come out before it does.
    if batch:
      yield _batch_of(batch)
    raise
  if batch:
    yield _batch_of(batch)


def _batch_of(batch: List[FastqRecord]) -> FastqBatch:
  return FastqBatch(
    batch[0].number,
    [r.read_id.encode('utf-8') for r in batch],
    [r.sequence.encode('ascii') for r in batch],
    [r.quality.encode('ascii') for r in batch],
  )


def _rebatch(batches: Iterator[FastqBatch], size: int) -> Iterator[FastqBatch]:
  """The same records in batches of `size` (the last may be smaller)."""
  for batch in batches:
    for at in range(0, len(batch.sequences), size):
      yield FastqBatch(
        batch.first_number + at,
        batch.read_ids[at : at + size],
        batch.sequences[at : at + size],
        batch.qualities[at : at + size],
      )


def read_fastq_batches(
  path: str, open_binary: Optional[OpenBinary] = None, size: int = 4096
) -> Iterator[FastqBatch]:
  """read_fastq's records in batches of up to `size`, many times faster.

  Args:
    path: the file.
    open_binary: as for read_fastq.
    size: the most records in a batch.

  Yields:
    FastqBatch, in file order, numbered from 1.

  Raises:
    FastqError: exactly as read_fastq, after the records before the problem.
  """
  open_binary = open_binary or _open_binary
  done = 0
  try:
    for batch in _rebatch(_fast_batches(path, open_binary), size):
      yield batch
      done += len(batch.sequences)
  except _SlowPath:
    slow = (r for r in read_fastq(path, open_binary) if r.number > done)
    yield from _batches_of(slow, size)


# After the first whitespace (bytes.split's set, less the CR and LF that a
# fast-path line cannot hold): what pair_id drops; then a /1 or /2 suffix.
_AFTER_NAME = re.compile(rb'[ \t\x0b\x0c][^\n]*')
_MATE_SUFFIX = re.compile(rb'/[12](?=\n|\Z)')
_LEADING_SPACE = re.compile(rb'(?:^|\n)[ \t\x0b\x0c]')


def _same_pair_ids(ids1: Sequence[bytes], ids2: Sequence[bytes]) -> bool:
  """Whether pair_id agrees on every pair (False also means: not sure)."""
  if ids1 == ids2:
    return True
  blob1, blob2 = b'\n'.join(ids1), b'\n'.join(ids2)
  if _casava_mates(blob1, blob2):
    return True
  for blob in (blob1, blob2):
    # str.split's extra whitespace, or a name after leading whitespace.
    if any(c in blob for c in _STR_ONLY_WHITESPACE) or (
      _LEADING_SPACE.search(blob)
    ):
      return False
  names1 = _MATE_SUFFIX.sub(b'', _AFTER_NAME.sub(b'', blob1))
  names2 = _MATE_SUFFIX.sub(b'', _AFTER_NAME.sub(b'', blob2))
  return names1 == names2


def _casava_mates(blob1: bytes, blob2: bytes) -> bool:
  """Whether R2's ids are R1's with the Casava mate field ' 1:' as ' 2:'.

  The change then lies after a space that follows the name (no id starts
  with whitespace), so every pair's names are equal. One replace and one
  comparison per batch, where the general check runs two regular
  expressions over each side.
  """
  return (
    len(blob1) == len(blob2)
    and not any(c in blob1 for c in _STR_ONLY_WHITESPACE)
    and not _LEADING_SPACE.search(blob1)
    and blob1.replace(b' 1:', b' 2:') == blob2
  )


def _fast_pair_batches(r1_path, r2_path, open_binary, size):
  """Aligned batches of well-paired records; raises _SlowPath otherwise."""
  r1_batches = _rebatch(_fast_batches(r1_path, open_binary), size)
  r2_batches = _rebatch(_fast_batches(r2_path, open_binary), size)
  pending1 = pending2 = None
  while True:
    if pending1 is None:
      pending1 = next(r1_batches, None)
    if pending2 is None:
      pending2 = next(r2_batches, None)
    if pending1 is None and pending2 is None:
      return
    if pending1 is None or pending2 is None:
      raise _SlowPath()  # Different numbers of records.
    take = min(len(pending1.sequences), len(pending2.sequences))
    head1, pending1 = _split(pending1, take)
    head2, pending2 = _split(pending2, take)
    if not _same_pair_ids(head1.read_ids, head2.read_ids):
      raise _SlowPath()
    yield head1, head2


def _split(batch: FastqBatch, take: int):
  """(the first `take` records, the rest or None)."""
  if take == len(batch.sequences):
    return batch, None
  head = FastqBatch(
    batch.first_number,
    batch.read_ids[:take],
    batch.sequences[:take],
    batch.qualities[:take],
  )
  rest = FastqBatch(
    batch.first_number + take,
    batch.read_ids[take:],
    batch.sequences[take:],
    batch.qualities[take:],
  )
  return head, rest


def read_pair_batches(
  r1_path: str,
  r2_path: str,
  open_binary: Optional[OpenBinary] = None,
  size: int = 4096,
) -> Iterator[Tuple[FastqBatch, FastqBatch]]:
  """read_pairs' pairs in aligned batches of up to `size`.

  Args:
    r1_path: the forward-read file.
    r2_path: the reverse-read file.
    open_binary: as for read_fastq.
    size: the most pairs in a batch.

  Yields:
    (R1 batch, R2 batch) holding the same record numbers.

  Raises:
    FastqError: exactly as read_pairs, after the pairs before the problem.
  """
  open_binary = open_binary or _open_binary
  done = 0
  try:
    for pair in _fast_pair_batches(r1_path, r2_path, open_binary, size):
      yield pair
      done += len(pair[0].sequences)
  except _SlowPath:
    slow = (
      p for p in read_pairs(r1_path, r2_path, open_binary) if p[0].number > done
    )
    r1_records, r2_records = [], []
    try:
      for r1, r2 in slow:
        r1_records.append(r1)
        r2_records.append(r2)
        if len(r1_records) >= size:
          yield _batch_of(r1_records), _batch_of(r2_records)
          r1_records, r2_records = [], []
    except FastqError:
      if r1_records:
        yield _batch_of(r1_records), _batch_of(r2_records)
      raise
    if r1_records:
      yield _batch_of(r1_records), _batch_of(r2_records)
