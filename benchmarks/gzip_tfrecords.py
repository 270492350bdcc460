"""Reads gzip TFRecord files in plain Python, for the benchmarks' bare loops.

Python's gzip module and the TFRecord framing (length, its CRC, data, its
CRC; the CRCs are not checked), so a baseline pays no TensorFlow or Beam
reader.
"""

import gzip
import struct
from typing import Iterator


def records(path: str) -> Iterator[bytes]:
  """The records of one gzip TFRecord file, in order."""
  with gzip.open(path, 'rb') as f:
    while True:
      header = f.read(12)
      if not header:
        return
      (length,) = struct.unpack('<Q', header[:8])
      data = f.read(length)
      f.read(4)
      yield data
