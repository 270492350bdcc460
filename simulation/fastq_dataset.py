"""Writes a SimulationResult as a FASTQ dataset (DESIGN.md, data contract).

  experiment.pbtxt            the Experiment, with fastq_forward_path (and
                              fastq_reverse_path) of every read name,
                              relative to the directory
  <read name>_R1.fastq.gz     the pool's reads (simulation/reads.py): R1,
  <read name>_R2.fastq.gz     and R2 when paired
  true_counts.csv.gz          the reads written per sequence and read name
                              (a `sequence` column, then one column per read
                              name, sorted), every sequence with a read

Each pool holds result.counts[name][i] reads of result.sequences[i], so the
true counts are the simulation's sequenced counts; the read filters then
drop the reads the error model spoiled. Each pool's reads come from their own
generator, seeded by (seed, position of the read name), so the files are a
pure function of the result, the error model and the seed. The directory is
written into a hidden sibling and renamed into place, so a crash never
leaves a half-written dataset.
"""

import csv
import gzip
import io
import os
import shutil
import tempfile
from typing import Optional

import numpy as np

from schema import experiment as experiment_lib
from simulation import reads as sim_reads
from simulation.simulator import SimulationResult

TRUE_COUNTS_FILENAME = 'true_counts.csv.gz'
DEFAULT_ERROR_MODEL = sim_reads.ErrorModel()
SEQUENCE_COLUMN = 'sequence'


def fastq_names(read_name: str, paired: bool = True):
  """(R1 file name, R2 file name or None) of a read name."""
  r2 = f'{read_name}_R2.fastq.gz' if paired else None
  return f'{read_name}_R1.fastq.gz', r2


def write_fastq_dataset(
  result: SimulationResult,
  output_dir: str,
  paired: bool = True,
  error_model: sim_reads.ErrorModel = DEFAULT_ERROR_MODEL,
  seed: Optional[int] = None,
) -> str:
  """Writes the FASTQ dataset directory atomically.

  Args:
    result: the simulation; every read name needs at least one read.
    output_dir: the directory to create (must not exist, or be empty).
    paired: write R1 and R2 files (else R1 only).
    error_model: how the reads are sequenced.
    seed: the reads' seed; None uses result.config.seed.

  Returns:
    The absolute path of the dataset directory.

  Raises:
    FileExistsError: output_dir exists and is not an empty directory.
    simulation.reads.ReadSimulationError: a pool has no reads.
  """
  output_dir = os.path.abspath(output_dir)
  if os.path.lexists(output_dir):
    if not os.path.isdir(output_dir) or os.listdir(output_dir):
      raise FileExistsError(f'{output_dir} exists and is not empty')
    os.rmdir(output_dir)
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(
    prefix=f'.{os.path.basename(output_dir)}.tmp-', dir=parent
  )
  try:
    _write_files(result, staging, paired, error_model, seed)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    os.rename(staging, output_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return output_dir


def _write_files(result, directory, paired, error_model, seed):
  seed = result.config.seed if seed is None else seed
  experiment = experiment_lib.Experiment()
  experiment.CopyFrom(result.experiment)
  names = result.count_names
  for index, name in enumerate(names):
    r1_name, r2_name = fastq_names(name, paired)
    counts = result.counts[name]
    pool = {
      result.sequences[i]: int(counts[i]) for i in np.flatnonzero(counts > 0)
    }
    sim_reads.write_pool_reads(
      pool,
      experiment.forward_primer,
      experiment.reverse_primer,
      np.random.default_rng([seed, index]),
      os.path.join(directory, r1_name),
      os.path.join(directory, r2_name) if paired else None,
      error_model,
    )
    reads = _reads_of(experiment, name)
    del reads.fastq_forward_path[:]
    del reads.fastq_reverse_path[:]
    reads.fastq_forward_path.append(r1_name)
    if paired:
      reads.fastq_reverse_path.append(r2_name)
  path = os.path.join(directory, experiment_lib.EXPERIMENT_FILENAME)
  with open(path, 'w') as f:
    f.write(experiment_lib.to_text(experiment))
  _write_true_counts(result, os.path.join(directory, TRUE_COUNTS_FILENAME))


def _reads_of(experiment, name):
  for rnd in experiment.rounds.values():
    for kind in ('positive_reads', 'negative_reads'):
      if rnd.HasField(kind) and getattr(rnd, kind).name == name:
        return getattr(rnd, kind)
  raise KeyError(name)  # Unreachable: names come from the experiment.


def _write_true_counts(result, path):
  names = result.count_names
  matrix = np.stack([result.counts[n] for n in names], axis=1)
  # mtime=0: identical content gives identical bytes.
  with (
    gzip.GzipFile(path, 'wb', mtime=0) as raw,
    io.TextIOWrapper(raw, newline='') as f,
  ):
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow([SEQUENCE_COLUMN] + names)
    for i in np.flatnonzero(matrix.sum(axis=1) > 0):
      writer.writerow([result.sequences[i]] + matrix[i].tolist())


def read_true_counts(path: str):
  """{sequence: {read name: count}} from a true_counts.csv.gz."""
  with gzip.open(path, 'rt', newline='') as f:
    reader = csv.reader(f)
    header = next(reader)
    return {
      row[0]: {n: int(c) for n, c in zip(header[1:], row[1:])} for row in reader
    }
