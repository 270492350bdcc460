"""What FastqExampleGen's Beam workers run: read, filter, count, cluster, write.

Kept apart from the executor so that a worker imports Beam, numpy, SciPy,
RapidFuzz and protobuf only. Unpickling a function of the executor module
made every worker import TensorFlow and TFX (`tfx.components`, for TFX's
own split writer and partition function): about 13 s of fixed cost per run
before any read was parsed (benchmarks/RESULTS.md, FastqExampleGen
throughput). Nothing here may import tensorflow or tfx; examples are
written as tf.Example wire bytes (`schema.example_bytes`).
"""

import collections
import json
import logging
import os
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Tuple

import apache_beam as beam
from apache_beam.io import filesystem
from apache_beam.io import filesystems
import numpy as np

from components.config import keys
from components.data import clustering
from components.data import split_writing
from components.data.fastq import count_table
from components.data.fastq import read_qc as qc_lib
from components.data.fastq import read_stats
from components.data.fastq import records
from schema import example_bytes

SEQUENCE_FEATURE = keys.SEQUENCE_FEATURE
CLUSTER_FEATURE = keys.CLUSTER_FEATURE
STATISTICS_JSON = 'read_statistics.json'
STATISTICS_MARKDOWN = 'read_statistics.md'
# TFX's file names inside each `Split-*` folder (write_split.py).
STATS_TAG = 'stats'
COUNTS_TAG = 'counts'
# Keys held per worker before partial counts are emitted (bounds memory).
FLUSH_KEYS = 200_000
# Hash shards of the count tables: enough to spread the merge and the
# example building over workers, few enough to keep elements large.
NUM_SHARDS = 16


def _open_binary(path: str):
  if '://' in path:
    return filesystems.FileSystems.open(
      path, compression_type=filesystem.CompressionTypes.UNCOMPRESSED
    )
  return open(path, 'rb')


def source_name(r1: str, r2: Optional[str]) -> str:
  """How statistics and errors name a file or pair."""
  return f'{r1} + {r2}' if r2 else r1


class ReadAndFilter(beam.DoFn):
  """(read name, r1, r2) -> (shard, count_table.Part) and the file's stats."""

  def __init__(self, qc_config: qc_lib.ReadQcConfig, flush_keys: int):
    self._config = qc_config
    self._flush_keys = flush_keys

  def process(self, source: Tuple[str, str, Optional[str]]):
    name, r1, r2 = source
    stats = read_stats.ReadStats(source_name(r1, r2))
    fate_counts = np.zeros(len(qc_lib.FATES), np.int64)
    counts = collections.Counter()
    for fates, regions in classified(r1, r2, self._config):
      fate_counts += np.bincount(fates, minlength=len(qc_lib.FATES))
      counts.update(filter(None, regions))
      if len(counts) >= self._flush_keys:
        yield from self._flush(counts, name)
    yield from self._flush(counts, name)
    for fate, n in zip(qc_lib.FATES, fate_counts.tolist()):
      if n:
        stats.add(fate, n)
    row = {'read_name': name, 'r1': r1, 'r2': r2 or ''}
    row.update(stats.as_dict())
    yield beam.pvalue.TaggedOutput(STATS_TAG, row)

  def _flush(self, counts: collections.Counter, name: str):
    yield from count_table.parts_of(
      counts, name, self._config.sequence_length, NUM_SHARDS
    )
    counts.clear()


def classified(r1: str, r2: Optional[str], config: qc_lib.ReadQcConfig):
  """(fate codes, regions) per batch of a source's reads or pairs, in order.

  Batches (records.read_*_batches, read_qc.classify_*s) give exactly the
  per-read functions' results at a fraction of their cost per read.

  Raises:
    records.FastqError: a broken file, or a quality character outside
      Phred+33 (read_qc's ValueError, given the file and record).
  """
  if r2:
    for batch1, batch2 in records.read_pair_batches(r1, r2, _open_binary):
      try:
        yield qc_lib.classify_pairs(
          batch1.sequences,
          batch1.qualities,
          batch2.sequences,
          batch2.qualities,
          config,
        )
      except qc_lib.ReadQcBatchError as e:
        number = batch1.first_number + e.index
        raise records.FastqError(
          f'{source_name(r1, r2)}: record {number}: {e}'
        ) from e
  else:
    for batch in records.read_fastq_batches(r1, _open_binary):
      try:
        yield qc_lib.classify_reads(batch.sequences, batch.qualities, config)
      except qc_lib.ReadQcBatchError as e:
        number = batch.first_number + e.index
        raise records.FastqError(f'{r1}: record {number}: {e}') from e


def _stats_of(row: Dict[str, Any]) -> read_stats.ReadStats:
  counts = {f.value: int(row.get(f.value, 0)) for f in qc_lib.FATES}
  return read_stats.ReadStats(row['source'], counts)


def summarise(rows: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
  """The statistics document: files, sums per read name, the total."""
  # Copies: Beam elements must not be mutated.
  files = sorted(
    (dict(r) for r in rows), key=lambda r: (r['read_name'], r['source'])
  )
  per_name: Dict[str, read_stats.ReadStats] = {}
  total = read_stats.ReadStats('all files')
  for row in files:
    stats = _stats_of(row)
    row['pass_fraction'] = stats.pass_fraction
    name = row['read_name']
    per_name[name] = per_name.get(name, read_stats.ReadStats(name)).merge(
      read_stats.ReadStats(name, stats.counts)
    )
    total = total.merge(read_stats.ReadStats('all files', stats.counts))

  def _row(stats):
    out = stats.as_dict()
    out.pop('source')
    out['pass_fraction'] = stats.pass_fraction
    return out

  return {
    'files': files,
    'read_names': {n: _row(s) for n, s in sorted(per_name.items())},
    'total': _row(total),
  }


_FATE_NAMES = [f.value for f in qc_lib.FATES]


def to_markdown(summary: Dict[str, Any]) -> str:
  """Markdown tables: one row per file, then one per read name."""
  header = '| read name | file | reads | okay % | ' + ' | '.join(_FATE_NAMES)
  rule = '|---|---|---:|---:|' + '---:|' * len(_FATE_NAMES)
  lines = ['# FASTQ read statistics', '', header + ' |', rule]
  for row in summary['files']:
    cells = [
      row['read_name'],
      os.path.basename(row['r1'])
      + (' + ' + os.path.basename(row['r2']) if row['r2'] else ''),
      str(row['total']),
      f'{100 * row["pass_fraction"]:.2f}',
    ] + [str(row[f]) for f in _FATE_NAMES]
    lines.append('| ' + ' | '.join(cells) + ' |')
  lines += ['', '## Per read name', '', header.replace(' file |', '') + ' |']
  lines.append(rule.replace('|---|---|', '|---|', 1))
  rows = list(summary['read_names'].items()) + [('all', summary['total'])]
  for name, row in rows:
    cells = [name, str(row['total']), f'{100 * row["pass_fraction"]:.2f}']
    lines.append(
      '| ' + ' | '.join(cells + [str(row[f]) for f in _FATE_NAMES]) + ' |'
    )
  return '\n'.join(lines) + '\n'


def to_console(summary: Dict[str, Any]) -> str:
  """An aligned plain-text table, one line per file and a total."""
  width = max([len(r['read_name']) for r in summary['files']] + [9])
  short = [f[:9] for f in _FATE_NAMES]
  lines = [
    f'{"read name":<{width}} {"reads":>10} {"okay %":>7} '
    + ' '.join(f'{s:>9}' for s in short)
  ]

  def _line(name, row):
    return (
      f'{name:<{width}} {row["total"]:>10} '
      f'{100 * row["pass_fraction"]:>7.2f} '
      + ' '.join(f'{row[f]:>9}' for f in _FATE_NAMES)
    )

  lines += [_line(r['read_name'], r) for r in summary['files']]
  lines.append(_line('all', summary['total']))
  return '\n'.join(lines)


def _write_text(path: str, text: str) -> None:
  with filesystems.FileSystems.create(
    path, compression_type=filesystem.CompressionTypes.UNCOMPRESSED
  ) as f:
    f.write(text.encode('utf-8'))


def check_and_write_stats(
  rows: List[Dict[str, Any]], output_uri: str, min_pass_fraction: float
) -> int:
  """Writes the statistics, then raises if any file almost all failed."""
  summary = summarise(rows)
  summary['min_pass_fraction'] = min_pass_fraction
  _write_text(
    os.path.join(output_uri, STATISTICS_JSON),
    json.dumps(summary, indent=1, sort_keys=True),
  )
  _write_text(
    os.path.join(output_uri, STATISTICS_MARKDOWN), to_markdown(summary)
  )
  problems = []
  for row in summary['files']:
    try:
      read_stats.check_pass_rate(_stats_of(row), min_pass_fraction)
    except read_stats.LowPassRateError as e:
      problems.append(f'read name {row["read_name"]!r}: {e}')
  if problems:
    raise read_stats.LowPassRateError('\n'.join(problems))
  return len(summary['files'])


def merge_shard(
  element: Tuple[int, Iterable[count_table.Part]], count_names, length: int
) -> Tuple[int, count_table.Table]:
  shard, parts = element
  return shard, count_table.merge(parts, count_names, length)


def totals(shard: int, table: count_table.Table):
  return shard, table.sequences, table.counts.sum(axis=1)


def cluster(
  shard_totals: List[Tuple[int, np.ndarray, np.ndarray]],
  gate: int,
  max_distance: int,
) -> Iterable[Tuple[int, np.ndarray]]:
  """(shard, cluster id per row of its table): one global step.

  The sequences are clustered in byte order, so the ids depend only on the
  counted sequences, not on how they were sharded or on worker timing.
  """
  del gate  # Only orders this step after the pass-rate check.
  shard_totals = [t for t in shard_totals if len(t[1])]
  if not shard_totals:
    return
  matrix = np.concatenate([m for _, m, _ in shard_totals])
  totals_ = np.concatenate([t for _, _, t in shard_totals])
  order = np.argsort(count_table.row_keys(matrix), kind='stable')
  result = clustering.cluster_by_edit_distance(
    count_table.as_strings(matrix[order]),
    totals_[order],
    max_distance=max_distance,
  )
  logging.info(
    'FastqExampleGen: %d sequences in %d clusters',
    len(totals_),
    result.stats.num_clusters,
  )
  ids = np.empty(len(totals_), np.int64)
  ids[order] = result.cluster_ids
  at = 0
  for shard, shard_matrix, _ in shard_totals:
    yield shard, ids[at : at + len(shard_matrix)]
    at += len(shard_matrix)


def to_examples(
  element,
  count_names: List[str],
  gate: int,
  assign: split_writing.SplitAssigner,
) -> Iterable[Tuple[int, bytes]]:
  """(split index, serialized example) of one shard's sequences.

  Each example holds the data contract's features: sequence, every count
  (zeros included) and cluster. The bytes are built directly
  (`example_bytes`): a protobuf message per example cost about 100 us, most
  of this step's time at millions of reads.

  Raises:
    split_writing.SplitError: the partition feature is not one of them.
  """
  del gate
  _, joined = element
  (table,) = joined[COUNTS_TAG]
  (cluster_ids,) = joined[CLUSTER_FEATURE]
  int64_columns = {
    name: column.tolist() for name, column in zip(count_names, table.counts.T)
  }
  int64_columns[CLUSTER_FEATURE] = cluster_ids.tolist()
  sequences = count_table.row_keys(table.sequences).tolist()
  serialized = example_bytes.examples(
    int64_columns, {SEQUENCE_FEATURE: sequences}
  )
  feature = assign.partition_feature
  if not feature:
    for example in serialized:
      yield assign.index_of_key(example), example
    return
  if feature == SEQUENCE_FEATURE:
    keys = map(example_bytes.bytes_feature, sequences)
  elif feature in int64_columns:
    keys = map(example_bytes.int64_feature, int64_columns[feature])
  else:
    raise assign.missing_feature_error([SEQUENCE_FEATURE, *int64_columns])
  for example, key in zip(serialized, keys):
    yield assign.index_of_key(key), example
