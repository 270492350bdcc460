"""What the design judge avoids: the sequences the dataset observed."""

import gzip

from pipeline import configs
from simulation import fastq_dataset as sim_fastq
from tools import design_truth


def test_a_counted_dataset_observes_its_examples_sequences():
  observed = design_truth.observed_sequences(configs.DATASETS['demo'].input_dir)
  assert len(observed) == 33_340
  assert len(set(observed)) == len(observed)
  assert all(len(s) == 40 for s in observed[:100])


def test_a_reads_dataset_observes_its_true_counts_sequences(tmp_path):
  path = tmp_path / sim_fastq.TRUE_COUNTS_FILENAME
  with gzip.open(path, 'wt') as f:
    f.write('sequence,pool_a,pool_b\nACGT,1,0\nTTTT,0,3\n')
  (tmp_path / 'library_R1.fastq.gz').write_bytes(b'')
  assert design_truth.observed_sequences(str(tmp_path)) == ['ACGT', 'TTTT']


def test_a_dataset_with_neither_observes_nothing(tmp_path):
  assert design_truth.observed_sequences(str(tmp_path)) == []
