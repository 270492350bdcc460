"""The FASTQ dataset layout: which files hold each read name's reads.

A FASTQ dataset (DESIGN.md, data contract) is a directory with an
`experiment.pbtxt` whose `SequencingReads` name their files, as in the
original: `fastq_forward_path` (R1) and, for paired-end reads,
`fastq_reverse_path` (R2). Repeated paths are lanes of one pool: the i-th
forward file pairs with the i-th reverse file, and the lanes' reads are
counted together under the read name.

Relative paths resolve against the experiment's `base_directory` when it is
set (itself resolved against the dataset directory when relative), else
against the dataset directory. Everything that can be wrong with the layout
is checked here, before any read is read: a read name without files, a
missing file, R1 and R2 lists of different lengths, a file claimed twice,
and a FASTQ file in the dataset directory that no read name claims (usually
a mis-typed path in the experiment).

`dataset_kind` tells a FASTQ dataset from one of counted TFRecord examples.
Plain `os` calls for local paths; paths with a scheme (gs://...) go through
`tf.io.gfile`, imported only then, so this module stays light.
"""

import fnmatch
import os
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from schema import experiment as experiment_lib

FASTQ = 'fastq'
EXAMPLES = 'examples'
# FASTQ file names, plain or gzip (case-insensitive).
FASTQ_PATTERNS = ('*.fastq', '*.fq', '*.fastq.gz', '*.fq.gz')
# Counted examples, as pipeline/configs.py's EXAMPLES_PATTERN.
TFRECORD_PATTERN = '*.tfrecord*'

# read name -> [(r1, r2 or None)], one entry per lane.
FastqFiles = Dict[str, List[Tuple[str, Optional[str]]]]


class FastqDatasetError(ValueError):
  """The dataset directory and its experiment disagree about FASTQ files."""


def _remote(path: str) -> bool:
  return '://' in path


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.io.gfile


def _join(*parts: str) -> str:
  if any(_remote(p) for p in parts):
    return _gfile().join(*parts)
  return os.path.join(*parts)


def _isfile(path: str) -> bool:
  if _remote(path):
    gfile = _gfile()
    return gfile.exists(path) and not gfile.isdir(path)
  return os.path.isfile(path)


def _isdir(path: str) -> bool:
  return _gfile().isdir(path) if _remote(path) else os.path.isdir(path)


def _normalise(path: str) -> str:
  return path.rstrip('/') if _remote(path) else os.path.realpath(path)


def _walk(directory: str):
  """(dirpath, filenames) below directory, hidden folders skipped."""
  walk = _gfile().walk if _remote(directory) else os.walk
  for dirpath, dirnames, filenames in walk(directory):
    dirnames[:] = [d for d in dirnames if not d.startswith('.')]
    yield dirpath, filenames


def is_fastq_name(filename: str) -> bool:
  """Whether a file name looks like FASTQ (.fastq, .fq, optionally .gz)."""
  name = os.path.basename(filename).lower()
  return any(fnmatch.fnmatch(name, p) for p in FASTQ_PATTERNS)


def _read_sets(experiment):
  """(read name, 'round.kind', SequencingReads) for every named read set."""
  for round_name, rnd in sorted(experiment.rounds.items()):
    for kind in ('positive_reads', 'negative_reads'):
      if rnd.HasField(kind) and getattr(rnd, kind).name:
        reads = getattr(rnd, kind)
        yield reads.name, f'{round_name}.{kind}', reads


def path_base(experiment, dataset_dir: str) -> str:
  """The directory relative FASTQ paths resolve against."""
  base = experiment.base_directory
  if not base:
    return dataset_dir
  if _remote(base) or os.path.isabs(base):
    return base
  return _join(dataset_dir, base)


def _resolve(path: str, base: str) -> str:
  if _remote(path) or os.path.isabs(path):
    return path
  return _join(base, path)


def names_fastq_files(experiment) -> bool:
  """Whether any read set of the experiment names a FASTQ file."""
  return any(
    reads.fastq_forward_path or reads.fastq_reverse_path
    for _, _, reads in _read_sets(experiment)
  )


def fastq_files(experiment, dataset_dir: str) -> FastqFiles:
  """The FASTQ files (lanes, pairs) of every read name, checked.

  Args:
    experiment: the `Experiment` proto.
    dataset_dir: the dataset directory.

  Returns:
    read name -> [(r1 path, r2 path or None)], one entry per lane, in the
    experiment's order; every read name of the experiment is a key.

  Raises:
    FastqDatasetError: a read name has no files, its R2 list is not as long
      as its R1 list, a file is missing or claimed twice, or a FASTQ file
      in the dataset directory is claimed by no read name.
  """
  base = path_base(experiment, dataset_dir)
  out: FastqFiles = {}
  claimed: Dict[str, str] = {}
  for name, where, reads in _read_sets(experiment):
    forward = list(reads.fastq_forward_path)
    reverse = list(reads.fastq_reverse_path)
    if not forward:
      extra = (
        f' (it has {len(reverse)} fastq_reverse_path but no fastq_forward_path)'
        if reverse
        else ''
      )
      raise FastqDatasetError(
        f'read name {name!r} ({where}) names no FASTQ file{extra}: set '
        'fastq_forward_path (and fastq_reverse_path for paired-end reads) '
        'in the experiment'
      )
    if reverse and len(reverse) != len(forward):
      raise FastqDatasetError(
        f'read name {name!r} ({where}) has {len(forward)} '
        f'fastq_forward_path but {len(reverse)} fastq_reverse_path: each R1 '
        'file (lane) needs its R2 file, in the same order'
      )
    lanes = []
    for i, r1 in enumerate(forward):
      r2 = reverse[i] if reverse else None
      pair = []
      for field, path in (
        ('fastq_forward_path', r1),
        ('fastq_reverse_path', r2),
      ):
        if path is None:
          pair.append(None)
          continue
        resolved = _resolve(path, base)
        if not _isfile(resolved):
          raise FastqDatasetError(
            f'read name {name!r} ({where}): {field} {path!r} does not '
            f'exist (looked for {resolved})'
          )
        key = _normalise(resolved)
        if key in claimed:
          raise FastqDatasetError(
            f'read name {name!r} ({where}): {field} {path!r} is also '
            f'named by {claimed[key]}; a file holds the reads of one pool'
          )
        claimed[key] = f'read name {name!r}'
        pair.append(resolved)
      lanes.append((pair[0], pair[1]))
    out[name] = lanes
  _check_all_claimed(dataset_dir, claimed)
  return out


def _check_all_claimed(dataset_dir: str, claimed: Dict[str, str]) -> None:
  if not _isdir(dataset_dir):
    raise FastqDatasetError(f'{dataset_dir}: not a directory')
  for dirpath, filenames in _walk(dataset_dir):
    for filename in sorted(filenames):
      if not is_fastq_name(filename):
        continue
      path = _join(dirpath, filename)
      if _normalise(path) not in claimed:
        raise FastqDatasetError(
          f'{path}: this FASTQ file is named by no read name of the '
          'experiment (fastq_forward_path / fastq_reverse_path); this '
          'usually means a mis-typed path in experiment.pbtxt. Fix the '
          'path, or move the file out of the dataset directory'
        )


def _fastq_in(dataset_dir: str) -> List[str]:
  return sorted(
    _join(dirpath, f)
    for dirpath, filenames in _walk(dataset_dir)
    for f in filenames
    if is_fastq_name(f)
  )


def _tfrecords_in(dataset_dir: str) -> List[str]:
  names = (
    [os.path.basename(p) for p in _gfile().listdir(dataset_dir)]
    if _remote(dataset_dir)
    else os.listdir(dataset_dir)
  )
  return sorted(
    _join(dataset_dir, n)
    for n in names
    if fnmatch.fnmatch(n, TFRECORD_PATTERN) and _isfile(_join(dataset_dir, n))
  )


def dataset_kind(dataset_dir: str, experiment=None) -> str:
  """Whether a dataset holds counted examples or FASTQ reads.

  Args:
    dataset_dir: the dataset directory.
    experiment: its `Experiment`; None reads `<dataset_dir>/experiment.pbtxt`.

  Returns:
    EXAMPLES ('examples') when TFRecord files lie in the directory (the
    FASTQ paths an experiment of the original tooling may still name are
    then not read), FASTQ ('fastq') when the experiment's FASTQ files exist
    (checked with `fastq_files`).

  Raises:
    FastqDatasetError: the directory holds both TFRecords and FASTQ files,
      or neither, or its FASTQ layout is wrong (see `fastq_files`).
    schema.experiment.ExperimentError: experiment.pbtxt is missing or
      invalid (experiment None only).
  """
  if not _isdir(dataset_dir):
    raise FastqDatasetError(f'{dataset_dir}: not a directory')
  tfrecords = _tfrecords_in(dataset_dir)
  fastq = _fastq_in(dataset_dir)
  if tfrecords and fastq:
    raise FastqDatasetError(
      f'{dataset_dir} holds both TFRecord examples ({len(tfrecords)} files, '
      f'e.g. {os.path.basename(tfrecords[0])}) and FASTQ files '
      f'({len(fastq)}, e.g. {os.path.basename(fastq[0])}): keep counted '
      'examples and raw reads in separate dataset directories'
    )
  if tfrecords:
    return EXAMPLES
  if experiment is None:
    experiment = experiment_lib.load_experiment(
      _join(dataset_dir, experiment_lib.EXPERIMENT_FILENAME)
    )
  if not fastq and not names_fastq_files(experiment):
    raise FastqDatasetError(
      f'{dataset_dir} holds neither TFRecord examples ({TFRECORD_PATTERN}) '
      'nor FASTQ files named by its experiment (fastq_forward_path): '
      'nothing to read'
    )
  fastq_files(experiment, dataset_dir)
  return FASTQ
