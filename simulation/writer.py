"""Writes a SimulationResult as a dataset directory (DESIGN.md, data contract).

  experiment.pbtxt                      the Experiment, text format
  examples-SSSSS-of-NNNNN.tfrecord.gz   gzip TFRecords of tf.Example:
                                        sequence (bytes), one int64 count per
                                        read name, cluster (int64)
  ground_truth.csv.gz                   true energies of every library member
                                        (never fed to the model)
  unseen_sequences.csv.gz               sequences outside the library with
                                        their true energies
                                        (simulation/unseen.py)
  truth_model.json                      the landscape and its parameters,
                                        so that the truth of any other
                                        sequence can be computed
                                        (simulation/oracle.py)

Only observed members (a read in some column) become Examples, as in real
sequencing data; ground_truth.csv.gz lists every member. The dataset is written
into a hidden sibling directory and renamed into place, so a crash never
leaves a half-written directory that looks like a dataset.
"""

import csv
import dataclasses
import gzip
import io
import itertools
import os
import shutil
import tempfile
from typing import List

import numpy as np
import tensorflow as tf

from schema import example_bytes
from schema import experiment as experiment_lib
from simulation import oracle
from simulation.simulator import SimulationResult
from simulation.unseen import UNSEEN_COLUMNS
from simulation.unseen import UNSEEN_FILENAME

GROUND_TRUTH_FILENAME = oracle.GROUND_TRUTH_FILENAME
GROUND_TRUTH_COLUMNS = (
  'sequence',
  'cluster',
  'target_dg',
  'serum_dg',
  'target_kd',
  'serum_kd',
  'is_parent',
)
EXAMPLES_PATTERN = 'examples-*.tfrecord.gz'
__all__ = [
  'EXAMPLES_PATTERN',
  'GROUND_TRUTH_COLUMNS',
  'GROUND_TRUTH_FILENAME',
  'UNSEEN_COLUMNS',
  'UNSEEN_FILENAME',
  'WriteSummary',
  'write_dataset',
  'write_truth_files',
]


@dataclasses.dataclass(frozen=True)
class WriteSummary:
  """What write_dataset wrote.

  Attributes:
    output_dir: the dataset directory.
    num_examples: Examples written (observed members).
    example_files: TFRecord paths.
    total_bytes: size of all files written.
  """

  output_dir: str
  num_examples: int
  example_files: List[str]
  total_bytes: int


def write_dataset(
  result: SimulationResult, output_dir: str, overwrite: bool = False
) -> WriteSummary:
  """Writes the dataset directory atomically.

  Args:
    result: the simulation.
    output_dir: the directory to create.
    overwrite: replace an existing non-empty output_dir.

  Returns:
    A WriteSummary.

  Raises:
    FileExistsError: output_dir exists and is not an empty directory, and
      overwrite is False.
  """
  output_dir = os.path.abspath(output_dir)
  if os.path.lexists(output_dir) and not overwrite:
    if not os.path.isdir(output_dir) or os.listdir(output_dir):
      raise FileExistsError(
        f'{output_dir} exists and is not an empty directory; '
        'pass overwrite=True (--overwrite) to replace it'
      )
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(
    prefix=f'.{os.path.basename(output_dir)}.tmp-', dir=parent
  )
  try:
    example_names = _write_files(result, staging)
    # mkdtemp makes a private (0700) directory; give it the usual mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    _replace(staging, output_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  files = [os.path.join(output_dir, n) for n in sorted(os.listdir(output_dir))]
  return WriteSummary(
    output_dir=output_dir,
    num_examples=int(result.observed.sum()),
    example_files=[os.path.join(output_dir, n) for n in example_names],
    total_bytes=sum(os.path.getsize(f) for f in files),
  )


def _replace(staging, output_dir):
  """Renames staging to output_dir, moving any old directory aside first."""
  if not os.path.lexists(output_dir):
    os.rename(staging, output_dir)
    return
  trash = tempfile.mkdtemp(
    prefix=f'.{os.path.basename(output_dir)}.old-',
    dir=os.path.dirname(output_dir),
  )
  old = os.path.join(trash, 'old')
  os.rename(output_dir, old)
  os.rename(staging, output_dir)
  shutil.rmtree(trash, ignore_errors=True)


def _write_files(result, directory):
  """Writes every file of the dataset into directory; returns shard names."""
  path = os.path.join(directory, experiment_lib.EXPERIMENT_FILENAME)
  with open(path, 'w') as f:
    f.write(experiment_lib.to_text(result.experiment))
  names = _write_examples(result, directory)
  write_truth_files(result, directory)
  return names


def write_truth_files(result: SimulationResult, directory: str) -> None:
  """Writes the truth files (ground truth, unseen set, truth model).

  A FASTQ dataset (simulation/fastq_dataset.py) gets them too, so that its
  runs are judged against the same truth.
  """
  _write_ground_truth(result, os.path.join(directory, GROUND_TRUTH_FILENAME))
  if result.unseen is not None:
    _write_unseen(result.unseen, os.path.join(directory, UNSEEN_FILENAME))
  with open(os.path.join(directory, oracle.TRUTH_MODEL_FILENAME), 'w') as f:
    f.write(oracle.TruthModel.of(result.config).to_json())


def _write_examples(result, directory):
  count_names = result.count_names
  rows = np.flatnonzero(result.observed)
  num_shards = result.config.num_shards
  names = []
  for shard, shard_rows in enumerate(np.array_split(rows, num_shards)):
    name = f'examples-{shard:05d}-of-{num_shards:05d}.tfrecord.gz'
    names.append(name)
    path = os.path.join(directory, name)
    with tf.io.TFRecordWriter(path, options='GZIP') as writer:
      for record in _examples(result, shard_rows, count_names):
        writer.write(record)
  return names


def _examples(result, rows, count_names):
  """The serialised Examples of the given members (example_bytes.py)."""
  int64_columns = {'cluster': result.cluster[rows].tolist()}
  # A count named like a fixed feature replaces it, as a dict update would.
  for name in count_names:
    int64_columns[name] = result.counts[name][rows].tolist()
  sequences = result.sequences
  bytes_columns = {'sequence': [sequences[i].encode() for i in rows.tolist()]}
  if 'sequence' in int64_columns:
    del bytes_columns['sequence']
  return example_bytes.examples(int64_columns, bytes_columns)


def _write_csv_gz(path, columns, rows):
  """A gzip CSV whose bytes depend only on its content."""
  # mtime=0 keeps the gzip bytes identical for identical content.
  with (
    gzip.GzipFile(path, 'wb', mtime=0) as raw,
    io.TextIOWrapper(raw, newline='') as f,
  ):
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(columns)
    writer.writerows(rows)


def _write_lines_gz(path, columns, lines, lines_per_write=65536):
  """_write_csv_gz's bytes, from CSV lines that need no quoting.

  zlib's deflate output (no flush between writes) does not depend on how
  its input is split into writes, so writing many lines at once gives the
  same bytes.
  """
  with (
    gzip.GzipFile(path, 'wb', mtime=0) as raw,
    io.TextIOWrapper(raw, newline='') as f,
  ):
    f.write(','.join(columns) + '\n')
    lines = iter(lines)
    while True:
      chunk = ''.join(itertools.islice(lines, lines_per_write))
      if not chunk:
        break
      f.write(chunk)


def _energies(target_dg, serum_dg):
  """The dG and Kd cells of one row, in the truth files' number format."""
  return [
    f'{target_dg:.6f}',
    f'{serum_dg:.6f}',
    f'{10.0**target_dg:.6g}',
    f'{10.0**serum_dg:.6g}',
  ]


def _write_ground_truth(result, path):
  # The rows _write_csv_gz would write (no cell needs quoting: sequences are
  # over ACGT, numbers as _energies formats them), built in one pass over
  # Python floats: csv.writer row by row took most of the time at 1M rows.
  # 10.0**dG of a Python float is C pow, as of the numpy scalar.
  target = result.target_dg.tolist()
  serum = result.serum_dg.tolist()
  lines = map(
    '{},{},{:.6f},{:.6f},{:.6g},{:.6g},{}\n'.format,
    result.sequences,
    result.cluster.tolist(),
    target,
    serum,
    [10.0**dg for dg in target],
    [10.0**dg for dg in serum],
    result.is_parent.astype(np.int64).tolist(),
  )
  _write_lines_gz(path, GROUND_TRUTH_COLUMNS, lines)


def _write_unseen(unseen, path):
  rows = (
    [seq, unseen.kind[i], int(unseen.hamming[i]), unseen.seed_sequence[i]]
    + _energies(unseen.target_dg[i], unseen.serum_dg[i])
    for i, seq in enumerate(unseen.sequences)
  )
  _write_csv_gz(path, UNSEEN_COLUMNS, rows)
