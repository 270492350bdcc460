"""The simulator's fast paths give exactly what the straightforward code gave.

Each fast path (the pigeonhole search for close parents, the partial-sort
mutation mask, the packed duplicate search, the hand-built Example bytes,
the one-pass ground-truth lines) is checked against a reference copy of the
code it replaced, and the default dataset against the bundled data/demo.
"""

import csv
import filecmp
import gzip
import io
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_example_bytes

from simulation import binding
from simulation import cli
from simulation import library
from simulation import scenarios
from simulation import writer
from simulation.simulator import simulate

DATA_DEMO = os.path.join(os.path.dirname(__file__), '..', 'data', 'demo')


def _too_close_reference(codes, min_distance, block=256):
  """The all-pairs check library._too_close replaced (quadratic)."""
  num = len(codes)
  close = np.zeros(num, bool)
  for start in range(0, num, block):
    rows = codes[start : start + block]
    dist = (rows[:, None, :] != codes[None, :, :]).sum(-1)
    i, j = np.nonzero(dist < min_distance)
    close[j[j > i + start]] = True
  return np.flatnonzero(close)


def _near_duplicates(rng, num, length, rate):
  """Rows copied from a few originals with a fraction of positions redrawn."""
  originals = rng.integers(0, 4, (max(num // 10, 1), length), dtype=np.uint8)
  rows = originals[rng.integers(0, len(originals), num)]
  redraw = rng.random((num, length)) < rate
  fresh = rng.integers(0, 4, (num, length), dtype=np.uint8)
  return np.where(redraw, fresh, rows).astype(np.uint8)


def _planted(rng, num, length):
  """Random rows, most carrying one shared substring at a few offsets."""
  rows = rng.integers(0, 4, (num, length), dtype=np.uint8)
  motif = rng.integers(0, 4, length // 2, dtype=np.uint8)
  offsets = rng.integers(0, length - len(motif) + 1, 3)
  for r in np.flatnonzero(rng.random(num) < 0.8):
    at = offsets[rng.integers(0, len(offsets))]
    rows[r, at : at + len(motif)] = motif
  return rows


@pytest.mark.parametrize('trial', range(40))
def test_too_close_matches_the_all_pairs_check(trial):
  rng = np.random.default_rng(trial)
  num = int(rng.integers(2, 400))
  length = int(rng.integers(1, 48))
  kind = trial % 4
  if kind == 0:
    codes = rng.integers(0, 4, (num, length), dtype=np.uint8)
  elif kind == 1:
    codes = _near_duplicates(rng, num, length, rng.uniform(0, 0.4))
  elif kind == 2:
    codes = _planted(rng, num, max(length, 4))
  else:
    codes = rng.integers(0, 256, (num, length), dtype=np.uint8)
    codes[num // 2 :] = codes[: num - num // 2]  # exact repeats
  length = codes.shape[1]
  for min_distance in sorted({0, 1, 2, 7, length // 2, length, length + 3}):
    expected = _too_close_reference(codes, min_distance)
    got = library._too_close(codes, min_distance)
    np.testing.assert_array_equal(got, expected, err_msg=f'{min_distance=}')


def test_too_close_on_library_parents_with_motifs_finds_the_same_rows():
  # Parents as _draw_parents draws them (every planting), before any redraw,
  # at a distance so large that many pairs are close.
  rng = np.random.default_rng(3)
  num = 3000
  plantings = binding.DEFAULT_PLANTINGS
  motif_sets = rng.choice(len(plantings), num)
  codes = library._draw_parent_rows(
    np.arange(num), 20, motif_sets, binding.DEFAULT_MOTIFS, plantings, rng
  )
  for min_distance in (7, 11):
    expected = _too_close_reference(codes, min_distance)
    assert expected.size  # the check has work to do
    np.testing.assert_array_equal(
      library._too_close(codes, min_distance), expected
    )


def test_too_close_rejects_codes_it_cannot_compare():
  with pytest.raises(ValueError, match=r'codes must lie in \[0, 256\)'):
    library._too_close(np.array([[0, 300], [1, 2]]), 2)
  with pytest.raises(ValueError, match='codes must be'):
    library._too_close(np.zeros(5, np.uint8), 2)


@pytest.mark.parametrize('trial', range(20))
def test_mutation_mask_is_the_argsort_rank_mask(trial):
  rng = np.random.default_rng(100 + trial)
  num, length = int(rng.integers(0, 200)), int(rng.integers(1, 45))
  values = rng.random((num, length))
  if trial % 2:
    # Coarse values: ties everywhere, also at the cut.
    values = np.floor(values * rng.integers(1, 5)) / 4
  counts = rng.integers(0, length + 1, num)
  if trial % 3 == 0:
    counts = np.minimum(counts, 3)
  ranks = np.argsort(values, axis=1).argsort(axis=1)
  np.testing.assert_array_equal(
    library._lowest(values, counts), ranks < counts[:, None]
  )


@pytest.mark.parametrize('trial', range(20))
def test_repeats_are_the_rows_np_unique_drops(trial):
  rng = np.random.default_rng(200 + trial)
  num, length = int(rng.integers(0, 300)), int(rng.integers(1, 70))
  high = (1, 2, 4, 256)[trial % 4]
  codes = rng.integers(0, high, (num, length)).astype(np.uint8)
  if num and trial % 2:
    codes = codes[rng.integers(0, num, num)]
  if num:
    _, first = np.unique(codes, axis=0, return_index=True)
    expected = np.setdiff1d(np.arange(num), first)
  else:
    expected = np.zeros(0, np.int64)
  np.testing.assert_array_equal(library._repeats(codes), expected)


@pytest.fixture(scope='module')
def small_result():
  return simulate(scenarios.configure('demo', num_families=800, depth=20000))


def test_written_examples_are_the_protobuf_examples(small_result, tmp_path):
  result = small_result
  out = writer.write_dataset(result, str(tmp_path / 'ds'))
  [path] = out.example_files
  records = [
    r.numpy() for r in tf.data.TFRecordDataset(path, compression_type='GZIP')
  ]
  rows = np.flatnonzero(result.observed)
  assert len(records) == len(rows)
  for record, i in zip(records, rows):
    counts = {n: int(result.counts[n][i]) for n in result.count_names}
    expected = tf_example_bytes.proto_bytes(
      {'cluster': int(result.cluster[i]), **counts},
      {'sequence': result.sequences[i].encode()},
    )
    assert record == expected


def _ground_truth_reference(result, path):
  """The ground truth as csv.writer wrote it, row by row."""
  rows = (
    [seq, int(result.cluster[i])]
    + [
      f'{result.target_dg[i]:.6f}',
      f'{result.serum_dg[i]:.6f}',
      f'{10.0 ** result.target_dg[i]:.6g}',
      f'{10.0 ** result.serum_dg[i]:.6g}',
    ]
    + [int(result.is_parent[i])]
    for i, seq in enumerate(result.sequences)
  )
  with (
    gzip.GzipFile(path, 'wb', mtime=0) as raw,
    io.TextIOWrapper(raw, newline='') as f,
  ):
    out = csv.writer(f, lineterminator='\n')
    out.writerow(writer.GROUND_TRUTH_COLUMNS)
    out.writerows(rows)


def test_ground_truth_bytes_are_the_csv_writer_bytes(small_result, tmp_path):
  expected = tmp_path / 'reference' / writer.GROUND_TRUTH_FILENAME
  got = tmp_path / 'fast' / writer.GROUND_TRUTH_FILENAME
  expected.parent.mkdir()
  got.parent.mkdir()
  _ground_truth_reference(small_result, str(expected))
  writer._write_ground_truth(small_result, str(got))
  assert got.read_bytes() == expected.read_bytes()


def test_default_command_line_reproduces_data_demo(tmp_path):
  if not os.path.isdir(DATA_DEMO):
    pytest.skip('no data/demo in this checkout')
  out = str(tmp_path / 'demo')
  assert cli.main(['--output_dir', out]) == 0
  # Every bundled file, byte for byte: both writers put mtime 0 in the gzip
  # header, so equal content gives equal bytes.
  names = sorted(os.listdir(DATA_DEMO))
  match, mismatch, errors = filecmp.cmpfiles(
    DATA_DEMO, out, names, shallow=False
  )
  assert match == names, (mismatch, errors)


def test_gzip_bytes_do_not_depend_on_how_lines_are_grouped(tmp_path):
  rng = np.random.default_rng(11)
  lines = [f'{v:.6f},{v:.6g}\n' for v in rng.normal(size=20000).tolist()]
  written = []
  for size in (1, 7, 1000, 65536):
    # One name for all: the gzip header holds the file name.
    path = tmp_path / str(size) / 'lines.csv.gz'
    path.parent.mkdir()
    writer._write_lines_gz(str(path), ('a', 'b'), lines, size)
    written.append(path.read_bytes())
  assert all(data == written[0] for data in written[1:])
  with gzip.open(tmp_path / '1' / 'lines.csv.gz', 'rt') as f:
    assert f.read() == 'a,b\n' + ''.join(lines)
