"""Count tables: sharded parts merge back to the plain sum of the counts."""

import collections
import random

import numpy as np
import pytest

from components.data.fastq import count_table

LENGTH = 12
NAMES = ['library', 'round1_positive', 'round1_negative']


def _random_counts(rng, sequences, names):
  """{read name: Counter} over a shared pool of sequences."""
  out = {}
  for name in names:
    picks = rng.choices(sequences, k=rng.randint(1, 400))
    out[name] = collections.Counter(picks)
  return out


def _pool(rng, n):
  return list({''.join(rng.choices('ACGT', k=LENGTH)) for _ in range(n)})


def _as_dict(table):
  return {
    s: dict(zip(NAMES, row))
    for s, row in zip(table.strings(), table.counts.tolist())
  }


@pytest.mark.parametrize('num_shards', [1, 3, 16])
def test_shard_merges_equal_the_plain_sum(num_shards):
  rng = random.Random(num_shards)
  pool = _pool(rng, 300)
  # Two lanes of each read name, counted apart (as two files or flushes).
  lanes = [_random_counts(rng, pool, NAMES) for _ in range(2)]
  by_shard = collections.defaultdict(list)
  for lane in lanes:
    for name, counts in lane.items():
      for shard, part in count_table.parts_of(counts, name, LENGTH, num_shards):
        assert 0 <= shard < num_shards
        by_shard[shard].append(part)
  expected = collections.defaultdict(lambda: dict.fromkeys(NAMES, 0))
  for lane in lanes:
    for name, counts in lane.items():
      for sequence, n in counts.items():
        expected[sequence][name] += n
  merged, seen = {}, set()
  for parts in by_shard.values():
    table = count_table.merge(parts, NAMES, LENGTH)
    strings = table.strings()
    assert strings == sorted(strings), 'a table is not in byte order'
    assert not seen & set(strings), 'a sequence is in two shards'
    seen |= set(strings)
    merged.update(_as_dict(table))
  assert merged == dict(expected)


def test_shards_spread_evenly():
  rng = random.Random(0)
  pool = _pool(rng, 4000)
  shards = count_table.shard_of(
    count_table.matrix_of(''.join(pool).encode(), LENGTH), 16
  )
  # Spread: no shard far from its share of 250.
  assert np.bincount(shards, minlength=16).min() > 150


def test_known_shard_values():
  # A worker in another process must agree with this one: Python's str
  # hash is salted per process, this one depends only on the bases.
  matrix = count_table.matrix_of(b'AAAAAAAAAAAA' + b'ACGTACGTACGT', LENGTH)
  assert count_table.shard_of(matrix, 1000).tolist() == [
    _reference_shard(b'AAAAAAAAAAAA', 1000),
    _reference_shard(b'ACGTACGTACGT', 1000),
  ]


def _reference_shard(sequence: bytes, num_shards: int) -> int:
  """The documented hash in plain Python integers."""
  h = 0
  for code in sequence:
    h = (h * 0x9E3779B97F4A7C15 + code) % 2**64
  return (h >> 32) % num_shards


def test_empty_counts_give_no_parts_and_an_empty_table():
  assert list(count_table.parts_of({}, 'library', LENGTH, 4)) == []
  table = count_table.merge([], NAMES, LENGTH)
  assert table.sequences.shape == (0, LENGTH)
  assert table.counts.shape == (0, len(NAMES))


def test_a_sequence_of_the_wrong_length_is_named():
  with pytest.raises(count_table.CountTableError, match="'ACG'.*12 ASCII"):
    list(count_table.parts_of({'A' * 12: 1, 'ACG': 2}, 'library', LENGTH, 4))


def test_an_unknown_read_name_is_named():
  part = count_table.Part('round9', b'A' * LENGTH, np.array([1]))
  with pytest.raises(count_table.CountTableError, match="'round9'"):
    count_table.merge([part], NAMES, LENGTH)


def test_counts_must_match_the_sequences():
  part = count_table.Part('library', b'A' * LENGTH, np.array([1, 2]))
  with pytest.raises(count_table.CountTableError, match='1 sequences but 2'):
    count_table.merge([part], NAMES, LENGTH)
