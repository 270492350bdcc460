"""Batch paths (read_qc.classify_*s, records.read_*_batches) match the
per-read ones exactly: same fates, regions, records and errors."""

import gzip

import numpy as np
import pytest

from components.data.fastq import read_qc
from components.data.fastq import records

FORWARD = 'ACACGACGCTCTTCCGATCT'
REVERSE = 'AGATCGGAAGAGCACACGTC'
ADAPTER = 'TGAACTCCAGTCACATCTCGTATGCC'


def _mutate(text, rng, rate):
  """Substitutions, N, indels and lower case at `rate` per base."""
  out = []
  for base in text:
    roll = rng.random()
    if roll < rate * 0.6:
      out.append(rng.choice(list('ACGTN')))
    elif roll < rate * 0.8:
      continue  # Deletion.
    elif roll < rate:
      out.append(base + rng.choice(list('ACGT')))
    elif roll > 1 - rate * 0.2:
      out.append(base.lower())
    else:
      out.append(base)
  return ''.join(out)


def _quality(length, rng):
  scores = rng.integers(2, 42, length)
  return ''.join(chr(33 + int(q)) for q in scores)


def _random_pairs(count, seed, rate=0.03):
  rng = np.random.default_rng(seed)
  pairs = []
  for _ in range(count):
    region_length = int(rng.choice([40, 40, 40, 39, 41, 0]))
    region = ''.join(rng.choice(list('ACGT'), region_length))
    molecule = FORWARD + region + REVERSE + ADAPTER
    stagger = ''.join(rng.choice(list('ACGT'), int(rng.integers(0, 5))))
    length = int(rng.choice([100, 100, 100, 75, 30]))
    read1 = _mutate(stagger + molecule, rng, rate)[:length]
    other = read_qc.reverse_complement(FORWARD + region + REVERSE) + ADAPTER
    if rng.random() < 0.05:
      other = ''.join(rng.choice(list('ACGT'), 100))
    read2 = _mutate(other, rng, rate)[:length]
    pairs.append(
      (read1, _quality(len(read1), rng), read2, _quality(len(read2), rng))
    )
  return pairs


@pytest.mark.parametrize(
  'overrides',
  [
    {},
    {'max_expected_errors': 0.5, 'max_primer_offset': 5},
    {'max_primer_mismatches': 0, 'min_trailing_primer_bases': 3},
    {'max_bad_bases': 0, 'min_mean_quality': 35.0},
  ],
)
def test_batches_agree_with_per_read_functions(overrides):
  config = read_qc.ReadQcConfig(FORWARD, REVERSE, 40, **overrides)
  pairs = _random_pairs(1500, seed=len(overrides))
  s1, q1, s2, q2 = ([p[i].encode() for p in pairs] for i in range(4))
  fates, regions = read_qc.classify_pairs(s1, q1, s2, q2, config)
  expected = [read_qc.classify_pair(*p, config) for p in pairs]
  assert read_qc.fates_and_regions(fates, regions) == expected
  # (Nearly) every fate occurs, so the rules are exercised.
  assert len({f for f, _ in expected}) >= 6
  fates, regions = read_qc.classify_reads(s1, q1, config)
  single = [read_qc.classify_read(p[0], p[1], config) for p in pairs]
  assert read_qc.fates_and_regions(fates, regions) == single
  assert len({f for f, _ in single}) >= 5


def _first_error(function, rows):
  for i, row in enumerate(rows):
    try:
      function(*row)
    except ValueError as e:
      return i, str(e)
  return None


def test_batch_names_the_first_bad_quality():
  config = read_qc.ReadQcConfig(FORWARD, REVERSE, 40)
  pairs = [list(p) for p in _random_pairs(200, seed=7, rate=0.0)]
  for row in pairs[::3]:
    row[1] = row[1][:30] + ' ' + row[1][31:]
  want = _first_error(lambda *p: read_qc.classify_pair(*p, config), pairs)
  assert want is not None and want[0] > 0
  s1, q1, s2, q2 = ([p[i].encode() for p in pairs] for i in range(4))
  with pytest.raises(read_qc.ReadQcBatchError, match="holds ' '") as caught:
    read_qc.classify_pairs(s1, q1, s2, q2, config)
  assert (caught.value.index, str(caught.value)) == want
  want = _first_error(
    lambda *p: read_qc.classify_read(*p, config), [p[:2] for p in pairs]
  )
  with pytest.raises(read_qc.ReadQcBatchError) as caught:
    read_qc.classify_reads(s1, q1, config)
  assert (caught.value.index, str(caught.value)) == want
  assert read_qc.classify_reads([], [], config)[0].size == 0


def _fastq(count, start=1, mate=1, read_length=30):
  rng = np.random.default_rng(start)
  return ''.join(
    f'@r{i} {mate}:N:0\n{"".join(rng.choice(list("ACGT"), read_length))}\n'
    f'+\n{"I" * read_length}\n'
    for i in range(start, start + count)
  )


def _write(path, text, compress=True):
  data = text.encode('ascii')
  path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
  return str(path)


def _flat(batches):
  """The records of batches, one (number, id, bases, qualities) at a time."""
  for b in batches:
    for i, (s, q) in enumerate(zip(b.sequences, b.qualities)):
      yield b.first_number + i, b.read_ids[i].decode(), s.decode(), q.decode()


def _tuples(reads):
  return ((r.number, r.read_id, r.sequence, r.quality) for r in reads)


def _outcome(iterable):
  """(items yielded, error message or None)."""
  items = []
  try:
    for item in iterable:
      items.append(item)
  except records.FastqError as e:
    return items, str(e)
  return items, None


@pytest.fixture(params=[1 << 20, 97])
def block_bytes(request, monkeypatch):
  """The default block, and one that cuts records mid-line."""
  monkeypatch.setattr(records, '_BLOCK_BYTES', request.param)
  return request.param


@pytest.mark.parametrize(
  'text',
  [
    _fastq(300),
    _fastq(5) + '\n\n',
    _fastq(5).rstrip('\n'),
    _fastq(5).replace('\n', '\r\n'),
    _fastq(5) + '@r6\nACGT\n+\nII\n',
    _fastq(5) + '@r6\nACGT\n',
    _fastq(5) + '\n' + _fastq(2),
    _fastq(5).replace('@r3', 'r3'),
    '',
  ],
)
def test_read_fastq_batches_match_read_fastq(tmp_path, text, block_bytes):
  del block_bytes
  for compress in (True, False):
    path = _write(tmp_path / f'x{compress}.fq', text, compress)
    got = _outcome(_flat(records.read_fastq_batches(path, size=7)))
    want = _outcome(_tuples(records.read_fastq(path)))
    assert got == want


def test_truncated_gzip_batches_match(tmp_path, block_bytes):
  del block_bytes
  path = tmp_path / 'cut.fq.gz'
  whole = gzip.compress(_fastq(400).encode('ascii'), mtime=0)
  path.write_bytes(whole[: len(whole) // 2])
  got = _outcome(_flat(records.read_fastq_batches(str(path), size=16)))
  want = _outcome(_tuples(records.read_fastq(str(path))))
  assert want[0] and 'truncated' in want[1]
  assert got == want


def _flat_pairs(pairs):
  for b1, b2 in pairs:
    assert b1.first_number == b2.first_number
    yield from zip(_flat([b1]), _flat([b2]))


@pytest.mark.parametrize(
  'r1_text, r2_text',
  [
    (_fastq(200), _fastq(200, mate=2)),
    (_fastq(20), _fastq(21, mate=2)),
    (_fastq(20), _fastq(20, mate=2).replace('@r9 2', '@r99 2')),
    (_fastq(20).replace(' 1:N:0', '/1'), _fastq(20).replace(' 1:N:0', '/2')),
    (_fastq(20), _fastq(20, mate=2).replace('@r15', 'r15')),
    (_fastq(20), _fastq(20).replace('@r3 1', '@r3\x1c1')),
    (
      _fastq(9).replace('@r3', '@ r3'),
      _fastq(9, mate=2).replace('@r3', '@ r3'),
    ),
    (_fastq(9).replace('@r4 ', '@r4\t'), _fastq(9, mate=2)),
    (
      _fastq(9).replace('@r5 1:N:0', '@r5/1/2'),
      _fastq(9).replace(' 1:N:0', '/1'),
    ),
    # Casava mate fields that are not after a name: the mate field is the
    # name itself (leading space), or follows str-only whitespace.
    (
      _fastq(9).replace('@r3 1:N:0', '@ 1:N:0'),
      _fastq(9, mate=2).replace('@r3 2:N:0', '@ 2:N:0'),
    ),
    (
      _fastq(9).replace('@r3 1:N:0', '@r3\x1c 1:N:0'),
      _fastq(9, mate=2).replace('@r3 2:N:0', '@r3\x1c 2:N:0'),
    ),
    # ' 1:' in the comment, not as the mate field: names still pair.
    (
      _fastq(9).replace('1:N:0', '1:N:0 x 1:y'),
      _fastq(9, mate=2).replace('2:N:0', '2:N:0 x 2:y'),
    ),
  ],
)
def test_read_pair_batches_match_read_pairs(
  tmp_path, r1_text, r2_text, block_bytes
):
  del block_bytes
  r1 = _write(tmp_path / 'r1.fq.gz', r1_text)
  r2 = _write(tmp_path / 'r2.fq.gz', r2_text)
  got = _outcome(_flat_pairs(records.read_pair_batches(r1, r2, size=6)))
  want = _outcome(
    (next(_tuples([a])), next(_tuples([b])))
    for a, b in records.read_pairs(r1, r2)
  )
  assert got == want
