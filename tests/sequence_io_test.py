"""Tests of reading sequence files and writing score tables."""

import gzip
import os
import re

import numpy as np
import pandas as pd
import pytest

from components.design import sequence_io


def _write(path, text):
  opener = gzip.open if str(path).endswith('.gz') else open
  with opener(path, 'wt') as f:
    f.write(text)
  return str(path)


def test_fasta_multi_line_records_and_names(tmp_path):
  path = _write(
    tmp_path / 'a.fasta',
    '>first some description\nacgt\nACGT\n\n>second\nTTTTGGGG\n',
  )
  records = sequence_io.read_records(path)
  assert records.sequences == ['ACGTACGT', 'TTTTGGGG']
  assert records.names == ['first', 'second']


@pytest.mark.parametrize('name', ['a.txt', 'a.seq', 'a.txt.gz'])
def test_text_skips_blank_and_comment_lines(tmp_path, name):
  path = _write(tmp_path / name, '# library\nacgt\n\n  CCGG  \n#x\nTTAA\n')
  assert sequence_io.read_sequences(path, sequence_length=4) == [
    'ACGT',
    'CCGG',
    'TTAA',
  ]


def test_csv_sequence_column_and_id(tmp_path):
  path = _write(
    tmp_path / 'a.csv.gz', 'id,sequence,note\nx1,acgt,a\nx2,GGCC,b\n'
  )
  records = sequence_io.read_records(path)
  assert records.sequences == ['ACGT', 'GGCC']
  assert records.names == ['x1', 'x2']


def test_gzip_fasta_and_explicit_format(tmp_path):
  gz = _write(tmp_path / 'a.fa.gz', '>s\nACGT\n')
  assert sequence_io.read_sequences(gz) == ['ACGT']
  plain = _write(tmp_path / 'library.dat', 'ACGT\nTTTT\n')
  assert sequence_io.read_sequences(plain, fmt=sequence_io.TEXT) == [
    'ACGT',
    'TTTT',
  ]
  with pytest.raises(sequence_io.SequenceFileError, match='library.dat'):
    sequence_io.read_sequences(plain)


@pytest.mark.parametrize(
  'name, text, sequence_length, message',
  [
    ('bad.txt', 'ACGT\nACNT\n', None, r"line 2, column 3: letter 'N'"),
    ('bad.fa', '>a\nACGT\n>b\nAC-T\n', None, r"line 4, column 3: letter '-'"),
    ('bad.csv', 'sequence\nACGT\nACGU\n', None, r"line 3, column 4: .*'U'"),
    (
      'long.txt',
      'ACGT\nACGTA\n',
      4,
      'line 2: sequence of length 5, expected 4',
    ),
    ('long.fa', '>a\nACG\nTA\n', 4, 'line 2: .*length 5, expected 4'),
    ('empty.txt', '# nothing\n\n', None, 'line 1: no sequences'),
    ('empty.fa', '', None, 'line 1: no sequences'),
    ('nocol.csv', 'seq\nACGT\n', None, "line 1: no 'sequence' column"),
    ('norec.fa', '>a\n>b\nACGT\n', None, "line 1: FASTA record 'a' has no"),
    ('lastrec.fa', '>a\nACGT\n>b\n', None, "line 3: FASTA record 'b' has no"),
    ('nohead.fa', 'ACGT\n', None, 'line 1: sequence before the first'),
  ],
)
def test_errors_name_file_and_line(
  tmp_path, name, text, sequence_length, message
):
  path = _write(tmp_path / name, text)
  with pytest.raises(sequence_io.SequenceFileError) as info:
    sequence_io.read_sequences(path, sequence_length)
  assert str(info.value).startswith(f'{path}: ')
  assert re.search(message, str(info.value)), str(info.value)


def test_missing_file_and_unknown_extension(tmp_path):
  with pytest.raises(sequence_io.SequenceFileError, match='no such file'):
    sequence_io.read_sequences(str(tmp_path / 'none.fa'))
  with pytest.raises(sequence_io.SequenceFileError, match='extension'):
    sequence_io.read_sequences(str(tmp_path / 'a.bam'))


@pytest.mark.parametrize('name', ['t.csv', 't.csv.gz', 't.parquet'])
def test_write_table_round_trips(tmp_path, name):
  values = np.array([0.1, -2.5e-8, 3.0], np.float32)
  path = str(tmp_path / 'out' / name)
  sequence_io.write_table(
    path, {'sequence': ['AC', 'GT', 'TT'], 'score': values}
  )
  table = (
    pd.read_parquet(path) if name.endswith('.parquet') else pd.read_csv(path)
  )
  assert table['sequence'].tolist() == ['AC', 'GT', 'TT']
  np.testing.assert_array_equal(table['score'].to_numpy(np.float32), values)
  assert os.listdir(os.path.dirname(path)) == [name]


def test_write_table_failure_leaves_nothing(tmp_path):
  path = str(tmp_path / 'scores.parquet')
  with pytest.raises(ValueError):
    # Parquet cannot store a column of arbitrary Python objects.
    sequence_io.write_table(path, {'x': np.array([object(), object()])})
  assert os.listdir(tmp_path) == []
  with pytest.raises(sequence_io.SequenceFileError, match='lengths'):
    sequence_io.write_table(path, {'a': [1, 2], 'b': [1]})
  assert os.listdir(tmp_path) == []


def test_write_table_failure_keeps_older_file(tmp_path):
  path = str(tmp_path / 'scores.parquet')
  sequence_io.write_table(path, {'a': [1, 2]})
  with pytest.raises(ValueError):
    sequence_io.write_table(path, {'a': np.array([object(), object()])})
  assert pd.read_parquet(path)['a'].tolist() == [1, 2]
  assert os.listdir(tmp_path) == ['scores.parquet']
