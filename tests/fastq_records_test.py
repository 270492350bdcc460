"""Tests for components/data/fastq/records.py on small hand-written files."""

import gzip

import numpy as np
import pytest

from components.data.fastq import records

GOOD = '@r1 1:N:0\nACGT\n+\nIIII\n@r2 1:N:0\nGGCA\n+r2\n#I5I\n'


def _write(tmp_path, name, text, compress=False):
  path = tmp_path / name
  data = text.encode('ascii')
  path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
  return str(path)


def _error(path_fn):
  with pytest.raises(records.FastqError) as caught:
    path_fn()
  return str(caught.value)


def test_plain_and_gzip_give_the_same_records(tmp_path):
  plain = _write(tmp_path, 'a.fastq', GOOD)
  # A gzip file named like a plain one: detection is by magic bytes.
  zipped = _write(tmp_path, 'b.fastq', GOOD, compress=True)
  expected = [
    records.FastqRecord(1, 'r1 1:N:0', 'ACGT', 'IIII'),
    records.FastqRecord(2, 'r2 1:N:0', 'GGCA', '#I5I'),
  ]
  assert list(records.read_fastq(plain)) == expected
  assert list(records.read_fastq(zipped)) == expected


def test_crlf_and_trailing_blank_lines_are_accepted(tmp_path):
  path = _write(tmp_path, 'a.fq', GOOD.replace('\n', '\r\n') + '\n\n')
  assert [r.sequence for r in records.read_fastq(path)] == ['ACGT', 'GGCA']


@pytest.mark.parametrize(
  'text,record,words',
  [
    ('r1\nACGT\n+\nIIII\n', 1, ['line 1', '"@"']),
    (GOOD + 'x3\nACGT\n+\nIIII\n', 3, ['line 9', '"@"']),
    ('@r1\nACGT\n-\nIIII\n', 1, ['line 3', '"+"']),
    (GOOD + '@r3\nACGT\n+\n', 3, ['line 9', 'incomplete', '3 of its 4']),
    (GOOD + '@r3\n', 3, ['incomplete', '1 of its 4']),
    ('@r1\nACGT\n+\nIII\n', 1, ['line 4', '3 characters', '4 bases']),
    (GOOD + '\n@r3\nACGT\n+\nIIII\n', 2, ['blank']),
  ],
)
def test_broken_structure_names_file_and_record(tmp_path, text, record, words):
  for compress in (False, True):
    path = _write(tmp_path, f'broken{int(compress)}.fq', text, compress)
    message = _error(lambda p=path: list(records.read_fastq(p)))
    assert path in message
    assert f'record {record}' in message
    for word in words:
      assert word in message


def test_empty_file_is_an_error(tmp_path):
  for compress in (False, True):
    path = _write(tmp_path, f'empty{int(compress)}.fq', '', compress)
    message = _error(lambda p=path: list(records.read_fastq(p)))
    assert path in message and 'record 1' in message and 'empty' in message


def test_truncated_gzip_names_the_last_good_record(tmp_path):
  text = ''.join(
    f'@r{i}\n{"ACGT" * 10}\n+\n{"I" * 40}\n' for i in range(1, 200)
  )
  path = tmp_path / 'cut.fq.gz'
  whole = gzip.compress(text.encode('ascii'), mtime=0)
  path.write_bytes(whole[: len(whole) - 30])
  seen = []
  with pytest.raises(records.FastqError) as caught:
    for record in records.read_fastq(str(path)):
      seen.append(record.number)
  message = str(caught.value)
  assert str(path) in message and 'truncated' in message
  assert seen, 'records before the cut are yielded'
  assert f'record {seen[-1]}, the last good record' in message
  assert seen == list(range(1, len(seen) + 1))


def test_gzip_cut_at_a_record_boundary_still_raises(tmp_path):
  path = tmp_path / 'cut.fq.gz'
  whole = gzip.compress(GOOD.encode('ascii'), mtime=0)
  path.write_bytes(whole[:-8])  # Drops the CRC and size trailer only.
  message = _error(lambda: list(records.read_fastq(str(path))))
  assert str(path) in message and 'record' in message


def _pair_files(tmp_path, r1_text, r2_text):
  return (
    _write(tmp_path, 'x_R1.fq', r1_text),
    _write(tmp_path, 'x_R2.fq', r2_text, compress=True),
  )


def test_read_pairs_yields_mates_in_step(tmp_path):
  r2_text = GOOD.replace(' 1:N:0', ' 2:N:0')
  r1, r2 = _pair_files(tmp_path, GOOD, r2_text)
  pairs = list(records.read_pairs(r1, r2))
  assert [(a.number, b.number) for a, b in pairs] == [(1, 1), (2, 2)]
  assert pairs[1][1].read_id == 'r2 2:N:0'


def test_slash_mate_suffixes_pair():
  assert records.pair_id('read7/1') == records.pair_id('read7/2') == 'read7'
  assert records.pair_id('read7 1:N:0:ACGT') == 'read7'
  assert records.pair_id('read7/3') == 'read7/3'


@pytest.mark.parametrize('longer', ['r1', 'r2'])
def test_pairs_with_different_record_counts_raise(tmp_path, longer):
  extra = GOOD + '@r3\nACGT\n+\nIIII\n'
  r1, r2 = _pair_files(
    tmp_path,
    extra if longer == 'r1' else GOOD,
    extra if longer == 'r2' else GOOD,
  )
  message = _error(lambda: list(records.read_pairs(r1, r2)))
  assert r1 in message and r2 in message
  assert 'ends after record 2' in message and 'record 3' in message


def test_pairs_with_different_ids_raise(tmp_path):
  r1, r2 = _pair_files(tmp_path, GOOD, GOOD.replace('@r2 ', '@r9 '))
  message = _error(lambda: list(records.read_pairs(r1, r2)))
  assert r1 in message and r2 in message and 'record 2' in message
  assert "'r2 1:N:0'" in message and "'r9 1:N:0'" in message


def test_chain_files_numbers_records_per_file(tmp_path):
  a = _write(tmp_path, 'L001.fq', GOOD)
  b = _write(tmp_path, 'L002.fq.gz', GOOD, compress=True)
  got = [(p, r.number) for p, r in records.chain_files([a, b])]
  assert got == [(a, 1), (a, 2), (b, 1), (b, 2)]
  r2_text = GOOD.replace(' 1:N:0', ' 2:N:0')
  lanes = [
    (a, _write(tmp_path, 'L001_R2.fq', r2_text)),
    (b, _write(tmp_path, 'L002_R2.fq', r2_text)),
  ]
  got = [(ps, x.number, y.number) for ps, x, y in records.chain_pairs(lanes)]
  assert got == [
    (lanes[0], 1, 1),
    (lanes[0], 2, 2),
    (lanes[1], 1, 1),
    (lanes[1], 2, 2),
  ]


def test_phred_scores():
  scores = records.phred_scores('!+5?IJ~')
  assert scores.dtype == np.uint8
  assert scores.tolist() == [0, 10, 20, 30, 40, 41, 93]
  with pytest.raises(ValueError, match='Phred'):
    records.phred_scores('II I')
