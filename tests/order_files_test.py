"""Tests for components/design/order_files.py (FASTA and microarray)."""

import csv
import math
import os

import pytest

from components.design import order_files
from components.design import walkers


def read_fasta(path):
  """A minimal FASTA reader: [(header, sequence)]."""
  records = []
  with open(path) as fasta:
    for line in fasta:
      line = line.rstrip('\n')
      if line.startswith('>'):
        records.append([line[1:], ''])
      else:
        records[-1][1] += line
  return [tuple(record) for record in records]


def make_design(sequence, score=1.5):
  seed = 'A' * len(sequence)
  return walkers.Design(
    sequence=sequence,
    seed=seed,
    parent=seed,
    walker='sampling',
    step=2,
    distance_to_seed=walkers.hamming(sequence, seed),
    distance_to_parent=walkers.hamming(sequence, seed),
    score=score,
  )


class TestFasta:
  def test_round_trip_sequences_and_long_lines(self, tmp_path):
    path = tmp_path / 'designs.fasta'
    sequences = ['ACGT' * 10, 'G' * 200, 'T']
    assert order_files.write_fasta(str(path), sequences) == 3
    assert read_fasta(path) == [
      ('sequence_000001', sequences[0]),
      ('sequence_000002', sequences[1]),
      ('sequence_000003', sequences[2]),
    ]
    lines = path.read_text().splitlines()
    assert max(len(line) for line in lines) == order_files.FASTA_LINE_WIDTH

  def test_design_headers_and_names(self, tmp_path):
    path = tmp_path / 'designs.fasta'
    designs = [make_design('ACGT' * 10), make_design('C' * 40, math.nan)]
    order_files.write_fasta(str(path), designs)
    (first, second) = read_fasta(path)
    assert first[0] == (
      f'design_000001 walker=sampling step=2 seed={"A" * 40} '
      f'parent={"A" * 40} distance=30 score=1.5'
    )
    assert first[1] == 'ACGT' * 10
    assert 'score=' not in second[0]
    order_files.write_fasta(str(path), designs, names=['x1', 'x2'])
    assert [h.split()[0] for h, _ in read_fasta(path)] == ['x1', 'x2']

  def test_wrong_number_of_names(self, tmp_path):
    with pytest.raises(order_files.OrderFileError, match='1 names'):
      order_files.write_fasta(str(tmp_path / 'a.fa'), ['ACGT', 'A'], ['x'])
    assert os.listdir(tmp_path) == []

  def test_failure_midway_leaves_no_file_and_keeps_old(self, tmp_path):
    path = tmp_path / 'designs.fasta'

    def sequences():
      yield 'ACGT' * 10
      yield 'ACGT' * 10
      raise RuntimeError('scorer died')

    with pytest.raises(RuntimeError):
      order_files.write_fasta(str(path), sequences())
    assert os.listdir(tmp_path) == []
    order_files.write_fasta(str(path), ['AAAA'])
    with pytest.raises(order_files.OrderFileError, match='record 2'):
      order_files.write_fasta(str(path), ['CCCC', 'ACGN'])
    assert read_fasta(path) == [('sequence_000001', 'AAAA')]
    assert os.listdir(tmp_path) == ['designs.fasta']


class TestMicroarray:
  def test_padding_and_spots(self):
    spots = order_files.microarray_layout(['ACGT' * 10, 'G' * 60])
    assert len(spots) == 20
    first = spots[:10]
    assert {s.sequence for s in first} == {'ACGT' * 10 + 'T' * 20}
    assert {s.sequence_id for s in first} == {'sequence_000001'}
    assert [s.spot_id for s in first] == [
      f'sequence_000001_{k}_of_10' for k in range(1, 11)
    ]
    assert all(len(s.sequence) == 60 for s in spots)
    assert spots[10].sequence == 'G' * 60

  def test_duplicates_get_spots_once(self):
    designs = [make_design('C' * 40), make_design('C' * 40)]
    spots = order_files.microarray_layout(
      designs, spots_per_sequence=3, spot_prefix='run7'
    )
    assert [s.spot_id for s in spots] == [
      'run7_design_000001_1_of_3',
      'run7_design_000001_2_of_3',
      'run7_design_000001_3_of_3',
    ]

  def test_too_long_names_record(self):
    with pytest.raises(order_files.OrderFileError, match='record 2.*61 nt'):
      order_files.microarray_layout(['ACGT', 'A' * 61])

  def test_bad_pad_base(self):
    with pytest.raises(order_files.OrderFileError, match="'N'"):
      order_files.microarray_layout(['ACGT'], pad_base='N')

  def test_csv(self, tmp_path):
    path = tmp_path / 'array.csv'
    count = order_files.write_microarray_csv(
      str(path), ['ACGT' * 10], sequence_ids=['apt1']
    )
    with open(path, newline='') as table:
      rows = list(csv.reader(table))
    assert count == 10
    assert rows[0] == ['spot_id', 'sequence_id', 'sequence']
    assert rows[1] == ['apt1_1_of_10', 'apt1', 'ACGT' * 10 + 'T' * 20]
    assert len(rows) == 11

  def test_csv_failure_leaves_no_file(self, tmp_path):
    with pytest.raises(order_files.OrderFileError):
      order_files.write_microarray_csv(
        str(tmp_path / 'array.csv'), ['ACGT', 'A' * 70]
      )
    assert os.listdir(tmp_path) == []
