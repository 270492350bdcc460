"""The FASTQ dataset layout (components/data/fastq_dataset.py) and the
simulated FASTQ dataset writer (simulation/fastq_dataset.py)."""

import gzip
import os

import numpy as np
import pytest

from components.data import fastq_dataset
from components.data.fastq import records
from components.data.fastq_dataset import FastqDatasetError
from schema import experiment as experiment_lib
from simulation import fastq_dataset as sim_fastq
from simulation import reads as sim_reads
from simulation import scenarios
from simulation import simulator

FORWARD = 'ACACGACGCTCTTCCGATCT'
REVERSE = 'AGATCGGAAGAGCACACGTC'


def _reads(name, forward=(), reverse=()):
  lines = [f'name: "{name}"']
  lines += [f'fastq_forward_path: "{p}"' for p in forward]
  lines += [f'fastq_reverse_path: "{p}"' for p in reverse]
  return ' '.join(lines)


def _experiment(library, round1, base_directory=''):
  """A two-round experiment; library and round1 are SequencingReads text."""
  base = f'base_directory: "{base_directory}"' if base_directory else ''
  return experiment_lib.parse_experiment(f"""
    sequence_length: 40
    forward_primer: "{FORWARD}"
    reverse_primer: "{REVERSE}"
    {base}
    rounds {{ key: "library" value {{ method: RANDOM
      positive_reads {{ {library} }} }} }}
    rounds {{ key: "round1" value {{ input: "library" method: PCR
      positive_reads {{ {round1} }} }} }}
  """)


def _touch(directory, *names):
  for name in names:
    path = os.path.join(directory, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
      f.write('@r1\nACGT\n+\nIIII\n')


def test_paired_lanes_resolve_against_the_dataset_directory(tmp_path):
  _touch(tmp_path, 'lib_R1.fq.gz', 'lib_R2.fq.gz', 'r1/L1.fastq', 'r1/L2.fq')
  experiment = _experiment(
    _reads('library', ['lib_R1.fq.gz'], ['lib_R2.fq.gz']),
    _reads('round1', ['r1/L1.fastq', 'r1/L2.fq']),
  )
  files = fastq_dataset.fastq_files(experiment, str(tmp_path))
  assert files == {
    'library': [
      (str(tmp_path / 'lib_R1.fq.gz'), str(tmp_path / 'lib_R2.fq.gz'))
    ],
    'round1': [
      (str(tmp_path / 'r1' / 'L1.fastq'), None),
      (str(tmp_path / 'r1' / 'L2.fq'), None),
    ],
  }


def test_relative_and_absolute_base_directory(tmp_path):
  reads = tmp_path / 'dataset' / 'raw'
  _touch(reads, 'a.fastq.gz', 'b.fastq.gz')
  for base in ('raw', str(reads)):
    experiment = _experiment(
      _reads('library', ['a.fastq.gz']),
      _reads('round1', ['b.fastq.gz']),
      base_directory=base,
    )
    files = fastq_dataset.fastq_files(experiment, str(tmp_path / 'dataset'))
    assert os.path.samefile(files['library'][0][0], reads / 'a.fastq.gz')
    assert os.path.samefile(files['round1'][0][0], reads / 'b.fastq.gz')


def test_a_read_name_without_files(tmp_path):
  _touch(tmp_path, 'a.fq')
  experiment = _experiment(_reads('library', ['a.fq']), _reads('round1'))
  with pytest.raises(FastqDatasetError, match="read name 'round1'.*no FASTQ"):
    fastq_dataset.fastq_files(experiment, str(tmp_path))


def test_reverse_paths_without_forward_paths(tmp_path):
  _touch(tmp_path, 'a.fq', 'b_R2.fq')
  experiment = _experiment(
    _reads('library', ['a.fq']), _reads('round1', reverse=['b_R2.fq'])
  )
  with pytest.raises(FastqDatasetError, match='no fastq_forward_path'):
    fastq_dataset.fastq_files(experiment, str(tmp_path))


def test_a_missing_file(tmp_path):
  _touch(tmp_path, 'a.fq')
  experiment = _experiment(
    _reads('library', ['a.fq']), _reads('round1', ['round1.fq.gz'])
  )
  with pytest.raises(
    FastqDatasetError, match="'round1'.*'round1.fq.gz' does not exist"
  ):
    fastq_dataset.fastq_files(experiment, str(tmp_path))


def test_r2_list_not_as_long_as_r1_list(tmp_path):
  _touch(tmp_path, 'a.fq', 'L1_R1.fq', 'L2_R1.fq', 'L1_R2.fq')
  experiment = _experiment(
    _reads('library', ['a.fq']),
    _reads('round1', ['L1_R1.fq', 'L2_R1.fq'], ['L1_R2.fq']),
  )
  with pytest.raises(
    FastqDatasetError, match="'round1'.*2 fastq_forward_path but 1"
  ):
    fastq_dataset.fastq_files(experiment, str(tmp_path))


def test_an_unclaimed_fastq_file_is_a_mistyped_path(tmp_path):
  _touch(tmp_path, 'a.fq', 'b.fq', 'extra/round1_lane2.FASTQ.GZ')
  experiment = _experiment(
    _reads('library', ['a.fq']), _reads('round1', ['b.fq'])
  )
  with pytest.raises(
    FastqDatasetError, match='round1_lane2.FASTQ.GZ.*mis-typed path'
  ):
    fastq_dataset.fastq_files(experiment, str(tmp_path))


def test_other_files_and_hidden_folders_are_ignored(tmp_path):
  _touch(tmp_path, 'a.fq', 'b.fq', 'notes.txt', '.cache/old.fq')
  experiment = _experiment(
    _reads('library', ['a.fq']), _reads('round1', ['b.fq'])
  )
  assert set(fastq_dataset.fastq_files(experiment, str(tmp_path))) == {
    'library',
    'round1',
  }


def test_a_file_claimed_twice(tmp_path):
  _touch(tmp_path, 'a.fq')
  experiment = _experiment(
    _reads('library', ['a.fq']), _reads('round1', ['a.fq'])
  )
  with pytest.raises(FastqDatasetError, match='also named by read name'):
    fastq_dataset.fastq_files(experiment, str(tmp_path))


def _write_experiment(directory, experiment):
  path = os.path.join(directory, experiment_lib.EXPERIMENT_FILENAME)
  with open(path, 'w') as f:
    f.write(experiment_lib.to_text(experiment))


def test_dataset_kind(tmp_path):
  fastq = tmp_path / 'fastq'
  _touch(fastq, 'a.fq', 'b.fq')
  experiment = _experiment(
    _reads('library', ['a.fq']), _reads('round1', ['b.fq'])
  )
  _write_experiment(fastq, experiment)
  assert fastq_dataset.dataset_kind(str(fastq)) == fastq_dataset.FASTQ

  # Counted examples; the experiment may still name the original's FASTQ.
  examples = tmp_path / 'examples'
  _touch(examples, 'examples-00000-of-00001.tfrecord.gz')
  _write_experiment(examples, experiment)
  assert fastq_dataset.dataset_kind(str(examples)) == fastq_dataset.EXAMPLES

  _touch(fastq, 'examples-00000-of-00001.tfrecord.gz')
  with pytest.raises(FastqDatasetError, match='both TFRecord.*and FASTQ'):
    fastq_dataset.dataset_kind(str(fastq))

  neither = tmp_path / 'neither'
  neither.mkdir()
  bare = _experiment(_reads('library'), _reads('round1'))
  with pytest.raises(FastqDatasetError, match='neither TFRecord'):
    fastq_dataset.dataset_kind(str(neither), bare)

  # FASTQ files that the experiment does not name: the layout error.
  _touch(neither, 'a.fq')
  with pytest.raises(FastqDatasetError, match="'library'.*no FASTQ"):
    fastq_dataset.dataset_kind(str(neither), bare)


@pytest.fixture(scope='module')
def small_result():
  config = scenarios.configure('demo', num_families=8, depth=60)
  return simulator.simulate(config)


def test_simulated_dataset_holds_the_sequenced_reads(small_result, tmp_path):
  out = sim_fastq.write_fastq_dataset(small_result, str(tmp_path / 'd'))
  experiment = experiment_lib.load_experiment(
    os.path.join(out, experiment_lib.EXPERIMENT_FILENAME)
  )
  assert fastq_dataset.dataset_kind(out) == fastq_dataset.FASTQ
  files = fastq_dataset.fastq_files(experiment, out)
  truth = sim_fastq.read_true_counts(
    os.path.join(out, sim_fastq.TRUE_COUNTS_FILENAME)
  )
  names = small_result.count_names
  assert sorted(files) == names
  for name in names:
    ((r1, r2),) = files[name]
    assert r2 is not None
    reads = sum(1 for _ in records.read_pairs(r1, r2))
    assert reads == int(small_result.counts[name].sum())
    assert reads == sum(row[name] for row in truth.values())
  for i in np.flatnonzero(small_result.observed):
    sequence = small_result.sequences[i]
    assert truth[sequence] == {n: int(small_result.counts[n][i]) for n in names}


def test_simulated_dataset_is_deterministic(small_result, tmp_path):
  model = sim_reads.ErrorModel(read_length=90)
  first = sim_fastq.write_fastq_dataset(
    small_result, str(tmp_path / 'a'), paired=False, error_model=model
  )
  second = sim_fastq.write_fastq_dataset(
    small_result, str(tmp_path / 'b'), paired=False, error_model=model
  )
  other = sim_fastq.write_fastq_dataset(
    small_result, str(tmp_path / 'c'), paired=False, error_model=model, seed=7
  )
  names = sorted(os.listdir(first))
  assert names == sorted(os.listdir(second))
  assert not any(n.endswith('_R2.fastq.gz') for n in names)
  for name in names:
    with (
      open(os.path.join(first, name), 'rb') as f,
      open(os.path.join(second, name), 'rb') as g,
    ):
      assert f.read() == g.read(), name
  library = sim_fastq.fastq_names('library')[0]
  with gzip.open(os.path.join(first, library)) as f:
    head = f.read(1000)
  with gzip.open(os.path.join(other, library)) as f:
    assert f.read(1000) != head
  with pytest.raises(FileExistsError):
    sim_fastq.write_fastq_dataset(small_result, first)
