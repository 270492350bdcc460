"""tf.train.Example wire bytes built directly, for writing many examples fast.

Byte for byte what `tf.train.Example(...).SerializeToString(deterministic=True)`
gives for an Example whose features each hold one int64 or one bytes value:
deterministic serialization writes the feature map's entries sorted by key.
Building a message per example costs tens of microseconds; these bytes are
concatenated from pieces, and an int64 feature's piece is built once per
distinct value (read counts repeat a lot).

Wire format (protobuf): a field is a tag byte, then for length-delimited
fields a varint length and the payload.

  Example      1: Features
  Features     1: map entry (repeated)     entry 1: key, 2: Feature
  Feature      1: BytesList                3: Int64List
  BytesList    1: bytes (repeated)         Int64List 1: packed varints
"""

from typing import Dict
from typing import Iterator
from typing import Sequence


def varint(value: int) -> bytes:
  """Protobuf base-128 varint; a negative int64 as its two's complement."""
  if value < 0:
    value += 1 << 64
  out = bytearray()
  while value > 0x7F:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
  return bytes((tag,)) + varint(len(payload)) + payload


def _entry(key: bytes, feature: bytes) -> bytes:
  """One entry of the Features map."""
  return _field(0x0A, _field(0x0A, key) + _field(0x12, feature))


def int64_feature(value: int) -> bytes:
  """A Feature holding one int64, as its deterministic serialisation."""
  return _field(0x1A, _field(0x0A, varint(value)))


def bytes_feature(value: bytes) -> bytes:
  """A Feature holding one bytes value, as its deterministic serialisation."""
  return _field(0x0A, _field(0x0A, value))


def int64_entry(key: bytes, value: int) -> bytes:
  """The map entry of an int64 feature holding one value."""
  return _entry(key, int64_feature(value))


def bytes_entry(key: bytes, value: bytes) -> bytes:
  """The map entry of a bytes feature holding one value."""
  return _entry(key, bytes_feature(value))


def _head(key: bytes, length: int) -> bytes:
  """bytes_entry(key, value) without the value, for a value of length."""
  entry = bytes_entry(key, bytes(length))
  return entry[: len(entry) - length]


def examples(
  int64_columns: Dict[str, Sequence[int]],
  bytes_columns: Dict[str, Sequence[bytes]],
) -> Iterator[bytes]:
  """Serialised Examples, one per row of the columns.

  Args:
    int64_columns: feature name -> one int per row.
    bytes_columns: feature name -> one bytes value per row; no name in
      both.

  Yields:
    Each row's Example bytes, as SerializeToString(deterministic=True)
    writes them.

  Raises:
    ValueError: (on the first next()) a name is in both, or the columns
      differ in length.
  """
  both = set(int64_columns) & set(bytes_columns)
  if both:
    raise ValueError(f'features both int64 and bytes: {sorted(both)}')
  columns = {}
  for name, values in int64_columns.items():
    key = name.encode()
    # Entries repeat (read counts are small numbers): build each once.
    pieces: Dict[int, bytes] = {}
    columns[key] = [
      pieces.get(v) or pieces.setdefault(v, int64_entry(key, v)) for v in values
    ]
  for name, values in bytes_columns.items():
    key = name.encode()
    # An entry is a header that depends only on the value's length, then
    # the value.
    heads: Dict[int, bytes] = {}
    columns[key] = [
      (heads.get(len(v)) or heads.setdefault(len(v), _head(key, len(v)))) + v
      for v in values
    ]
  lengths = {len(c) for c in columns.values()}
  if len(lengths) > 1:
    raise ValueError(f'columns differ in length: {sorted(lengths)}')
  # Deterministic serialization writes map entries sorted by key bytes.
  ordered = [columns[k] for k in sorted(columns)]
  tags = {}
  for row in zip(*ordered):
    body = b''.join(row)
    size = len(body)
    tag = tags.get(size) or tags.setdefault(size, b'\x0a' + varint(size))
    yield tag + body
