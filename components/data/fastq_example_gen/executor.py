"""FastqExampleGen's Beam executor: FASTQ reads to counted, clustered examples.

The Beam pipeline (the input source of TFX's ExampleGen, which then hashes
the `cluster` feature into the output splits and writes them):

  (read name, R1, R2) per file or pair -> ReadAndFilter: stream the file(s)
      (records.py), classify every read or pair (read_qc.py)
    |-- (shard, Part) -> GroupByKey -> MergeShards: (shard, Table) ---------+
    |     -> (shard, sequences, totals) -> ToList -> Cluster (one step,      |
    |        clustering.py) -> (shard, cluster ids) -----------------------+
    '-- per-file ReadStats -> ToList -> CheckPassRate: write statistics,    |
          raise if a file's reads almost all fail ---(gate)--> Cluster,     |
                                                       ToExamples <- join -'

ReadAndFilter reads and classifies in batches of a few thousand records
(records.read_*_batches, read_qc.classify_*s: the per-read functions'
results, exactly, at a fraction of their cost), and counts okay reads per
sequence in a bounded dictionary (flushed every `_FLUSH_KEYS` keys). A
flush sends the counts as count tables (count_table.py): one element per
shard of the sequences' hash, holding numpy arrays, so the shuffle moves
`_NUM_SHARDS` elements per file and flush instead of one per unique
sequence and file (that per-element cost, not the QC, bounded the
throughput before). Each shard's merge sums lanes, flushes and workers.

Nothing half-written is published. The pass-rate check is a side input of
the clustering and of the example builder, so no example exists before
every file's statistics are in and checked: a failing check (or a broken
FASTQ file, whose FastqError names the file and record) stops the pipeline
before anything reaches the writer. Beam's writers may already have made
their temporary folders by then; `Do` removes every `Split-*` folder of a
failed execution (as TFX's launcher also does), keeps the statistics the
check wrote, prints them, and re-raises.

Statistics: `<examples uri>/read_statistics.json` and `.md` (beside the
`Split-*` folders, not inside one), and a console table. Their JSON holds a
row per file (pair) with its read name, paths, reads per fate and pass
fraction, the sums per read name, and the grand total.
"""

import collections
import dataclasses
import json
import os
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Tuple

from absl import logging
import apache_beam as beam
from google.protobuf import struct_pb2
import numpy as np
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.config import fastq as fastq_settings
from components.data import clustering
from components.data import fastq_dataset
from components.data.fastq import count_table
from components.data.fastq import read_qc as qc_lib
from components.data.fastq import read_stats
from components.data.fastq import records
from schema import experiment as experiment_lib

SEQUENCE_FEATURE = 'sequence'
CLUSTER_FEATURE = 'cluster'
# The one key of the Struct packed into ExampleGen's CustomConfig: a JSON
# string of FastqConfig.to_dict() (JSON keeps ints ints; a Struct would
# turn them into floats).
CUSTOM_CONFIG_KEY = 'fastq_example_gen'
STATISTICS_JSON = 'read_statistics.json'
STATISTICS_MARKDOWN = 'read_statistics.md'
# Private exec property, like ExampleGen's own `_beam_pipeline_args`.
_OUTPUT_URI_KEY = '_fastq_examples_uri'
_STATS_TAG = 'stats'
_COUNTS_TAG = 'counts'
# Keys held per worker before partial counts are emitted (bounds memory).
_FLUSH_KEYS = 200_000
# Hash shards of the count tables: enough to spread the merge and the
# example building over workers, few enough to keep elements large.
_NUM_SHARDS = 16
# ReadQcConfig fields the custom config may set; primers and length come
# from the experiment.
QC_FIELDS = fastq_settings.READ_QC_FIELDS


class FastqExampleGenError(ValueError):
  """The FastqExampleGen configuration is invalid."""


@dataclasses.dataclass(frozen=True)
class FastqConfig:
  """Everything the executor needs besides the dataset directory.

  Attributes:
    experiment_pbtxt: the experiment in protobuf text format.
    read_qc: ReadQcConfig thresholds by field name (QC_FIELDS); missing
      ones keep the original's defaults.
    max_distance: clustering's Levenshtein distance.
    min_pass_fraction: a file with a smaller share of okay reads fails.
  """

  experiment_pbtxt: str
  read_qc: Dict[str, Any] = dataclasses.field(default_factory=dict)
  max_distance: int = clustering.DEFAULT_MAX_DISTANCE
  min_pass_fraction: float = read_stats.DEFAULT_MIN_PASS_FRACTION

  def experiment(self):
    return experiment_lib.parse_experiment(
      self.experiment_pbtxt, 'FastqExampleGen experiment_pbtxt'
    )

  def qc_config(self, experiment=None) -> qc_lib.ReadQcConfig:
    """The read filters: the experiment's primers and length, our thresholds.

    Raises:
      qc_lib.ReadQcConfigError: a threshold value is invalid.
    """
    experiment = experiment or self.experiment()
    return qc_lib.ReadQcConfig(
      forward_primer=experiment.forward_primer,
      reverse_primer=experiment.reverse_primer,
      sequence_length=int(experiment.sequence_length),
      **self.read_qc,
    )

  def validate(self) -> None:
    """Raises on any invalid value, before a run starts.

    Raises:
      FastqExampleGenError: an unknown or invalid setting.
      qc_lib.ReadQcConfigError: a threshold does not fit the experiment's
        primers.
    """
    try:
      fastq_settings.FastqSettings(
        dict(self.read_qc), self.max_distance, self.min_pass_fraction
      )
    except ValueError as e:
      raise FastqExampleGenError(str(e)) from None
    self.qc_config()

  def to_custom_config(self) -> example_gen_pb2.CustomConfig:
    """ExampleGen's CustomConfig carrying this config."""
    struct = struct_pb2.Struct()
    struct.fields[CUSTOM_CONFIG_KEY].string_value = json.dumps(
      dataclasses.asdict(self), sort_keys=True
    )
    custom_config = example_gen_pb2.CustomConfig()
    custom_config.custom_config.Pack(struct)
    return custom_config

  @classmethod
  def from_exec_properties(cls, exec_properties: Dict[str, Any]):
    """The config in ExampleGen's `custom_config` exec property (JSON)."""
    text = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not text:
      raise FastqExampleGenError(
        'FastqExampleGen needs a custom_config (FastqConfig.to_custom_config)'
      )
    custom_config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(text, custom_config)
    struct = struct_pb2.Struct()
    if not custom_config.custom_config.Unpack(struct) or (
      CUSTOM_CONFIG_KEY not in struct.fields
    ):
      raise FastqExampleGenError(
        f'custom_config holds no {CUSTOM_CONFIG_KEY!r} Struct field'
      )
    values = json.loads(struct.fields[CUSTOM_CONFIG_KEY].string_value)
    config = cls(**values)
    config.validate()
    return config


def _open_binary(path: str):
  if '://' in path:
    return tf.io.gfile.GFile(path, 'rb')
  return open(path, 'rb')


def source_name(r1: str, r2: Optional[str]) -> str:
  """How statistics and errors name a file or pair."""
  return f'{r1} + {r2}' if r2 else r1


class _ReadAndFilter(beam.DoFn):
  """(read name, r1, r2) -> (shard, count_table.Part) and the file's stats."""

  def __init__(self, qc_config: qc_lib.ReadQcConfig, flush_keys: int):
    self._config = qc_config
    self._flush_keys = flush_keys

  def process(self, source: Tuple[str, str, Optional[str]]):
    name, r1, r2 = source
    stats = read_stats.ReadStats(source_name(r1, r2))
    fate_counts = np.zeros(len(qc_lib.FATES), np.int64)
    counts = collections.Counter()
    for fates, regions in _classified(r1, r2, self._config):
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
    yield beam.pvalue.TaggedOutput(_STATS_TAG, row)

  def _flush(self, counts: collections.Counter, name: str):
    yield from count_table.parts_of(
      counts, name, self._config.sequence_length, _NUM_SHARDS
    )
    counts.clear()


def _classified(r1: str, r2: Optional[str], config: qc_lib.ReadQcConfig):
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


def _check_and_write_stats(
  rows: List[Dict[str, Any]], output_uri: str, min_pass_fraction: float
) -> int:
  """Writes the statistics, then raises if any file almost all failed."""
  summary = summarise(rows)
  summary['min_pass_fraction'] = min_pass_fraction
  fileio.makedirs(output_uri)
  with fileio.open(os.path.join(output_uri, STATISTICS_JSON), 'w') as f:
    f.write(json.dumps(summary, indent=1, sort_keys=True))
  with fileio.open(os.path.join(output_uri, STATISTICS_MARKDOWN), 'w') as f:
    f.write(to_markdown(summary))
  problems = []
  for row in summary['files']:
    try:
      read_stats.check_pass_rate(_stats_of(row), min_pass_fraction)
    except read_stats.LowPassRateError as e:
      problems.append(f'read name {row["read_name"]!r}: {e}')
  if problems:
    raise read_stats.LowPassRateError('\n'.join(problems))
  return len(summary['files'])


def _merge_shard(
  element: Tuple[int, Iterable[count_table.Part]], count_names, length: int
) -> Tuple[int, count_table.Table]:
  shard, parts = element
  return shard, count_table.merge(parts, count_names, length)


def _totals(shard: int, table: count_table.Table):
  return shard, table.sequences, table.counts.sum(axis=1)


def _cluster(
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
  totals = np.concatenate([t for _, _, t in shard_totals])
  order = np.argsort(count_table.row_keys(matrix), kind='stable')
  result = clustering.cluster_by_edit_distance(
    count_table.as_strings(matrix[order]),
    totals[order],
    max_distance=max_distance,
  )
  logging.info(
    'FastqExampleGen: %d sequences in %d clusters',
    len(totals),
    result.stats.num_clusters,
  )
  ids = np.empty(len(totals), np.int64)
  ids[order] = result.cluster_ids
  at = 0
  for shard, shard_matrix, _ in shard_totals:
    yield shard, ids[at : at + len(shard_matrix)]
    at += len(shard_matrix)


def _to_examples(
  element, count_names: List[str], gate: int
) -> Iterable[tf.train.Example]:
  """The data contract's examples of one shard: sequence, counts, cluster."""
  del gate
  _, joined = element
  (table,) = joined[_COUNTS_TAG]
  (cluster_ids,) = joined[CLUSTER_FEATURE]
  for sequence, counts, cluster_id in zip(
    table.strings(), table.counts.tolist(), cluster_ids.tolist()
  ):
    # Filled in place: building a Feature per value and copying it into
    # the map costs several times more.
    example = tf.train.Example()
    feature = example.features.feature
    feature[SEQUENCE_FEATURE].bytes_list.value.append(sequence.encode('ascii'))
    feature[CLUSTER_FEATURE].int64_list.value.append(cluster_id)
    for name, count in zip(count_names, counts):
      feature[name].int64_list.value.append(count)
    yield example


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _FastqToExample(  # pylint: disable=invalid-name
  pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
  """The counted, clustered tf.Examples of the dataset's FASTQ files.

  Args:
    pipeline: the Beam pipeline.
    exec_properties: ExampleGen's, with `input_base` (the dataset directory)
      and `custom_config` (FastqConfig); `Do` adds the output URI.
    split_pattern: unused; the experiment names the files (the input
      pattern serves the driver's fingerprint, i.e. caching).

  Returns:
    One tf.Example per unique sequence.
  """
  del split_pattern
  config = FastqConfig.from_exec_properties(exec_properties)
  experiment = config.experiment()
  qc_config = config.qc_config(experiment)
  input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
  files = fastq_dataset.fastq_files(experiment, input_base)
  count_names = experiment_lib.all_count_names(experiment)
  sources = [(n, r1, r2) for n in count_names for r1, r2 in files[n]]
  output_uri = exec_properties[_OUTPUT_URI_KEY]

  read = (
    pipeline
    | 'Sources' >> beam.Create(sources)
    # Spreads the files over workers (Create would keep them in one bundle).
    | 'SpreadFiles' >> beam.Reshuffle()
    | 'ReadAndFilter'
    >> beam.ParDo(_ReadAndFilter(qc_config, _FLUSH_KEYS)).with_outputs(
      _STATS_TAG, main=_COUNTS_TAG
    )
  )
  gate = beam.pvalue.AsSingleton(
    read[_STATS_TAG]
    | 'GatherStats' >> beam.combiners.ToList()
    | 'CheckPassRate'
    >> beam.Map(_check_and_write_stats, output_uri, config.min_pass_fraction)
  )
  length = qc_config.sequence_length
  tables = (
    read[_COUNTS_TAG]
    | 'GroupShards' >> beam.GroupByKey()
    | 'MergeShards' >> beam.Map(_merge_shard, count_names, length)
  )
  clusters = (
    tables
    | 'Totals' >> beam.MapTuple(_totals)
    | 'GatherTotals' >> beam.combiners.ToList()
    | 'Cluster' >> beam.FlatMap(_cluster, gate, config.max_distance)
  )
  return (
    {_COUNTS_TAG: tables, CLUSTER_FEATURE: clusters}
    | 'JoinClusters' >> beam.CoGroupByKey()
    | 'ToExamples' >> beam.FlatMap(_to_examples, count_names, gate)
  )


def read_statistics(examples_uri: str) -> Optional[Dict[str, Any]]:
  """The statistics an execution wrote, or None."""
  path = os.path.join(examples_uri, STATISTICS_JSON)
  if not fileio.exists(path):
    return None
  with fileio.open(path, 'r') as f:
    return json.loads(f.read())


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """Counts the FASTQ reads of an experiment into split tf.Examples."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    """The PTransform from the dataset's FASTQ files to tf.Examples."""
    return _FastqToExample

  def Do(
    self,
    input_dict: Dict[str, List[Any]],
    output_dict: Dict[str, List[Any]],
    exec_properties: Dict[str, Any],
  ) -> None:
    """Runs ExampleGen's Do; on failure removes the splits and re-raises.

    Raises:
      fastq_dataset.FastqDatasetError: the dataset layout is wrong (before
        the Beam pipeline starts).
      records.FastqError: a FASTQ file is broken (names file and record).
      read_stats.LowPassRateError: almost no read of a file passed.
      FastqExampleGenError: the custom config is invalid.
    """
    config = FastqConfig.from_exec_properties(exec_properties)
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    # Layout errors are found here, before any Beam work.
    fastq_dataset.fastq_files(config.experiment(), input_base)
    examples = artifact_utils.get_single_instance(
      output_dict[standard_component_specs.EXAMPLES_KEY]
    )
    exec_properties = dict(exec_properties)
    exec_properties[_OUTPUT_URI_KEY] = examples.uri
    try:
      super().Do(input_dict, output_dict, exec_properties)
    except Exception:
      _remove_splits(examples.uri)
      summary = read_statistics(examples.uri)
      if summary is not None:
        print(to_console(summary), flush=True)
      raise
    summary = read_statistics(examples.uri)
    table = to_console(summary)
    print(table, flush=True)
    logging.info('FastqExampleGen read statistics:\n%s', table)
    examples.set_int_custom_property('fastq_reads', summary['total']['total'])
    examples.set_int_custom_property(
      'fastq_reads_okay', summary['total'][qc_lib.Fate.OKAY.value]
    )


def _remove_splits(uri: str) -> None:
  """Removes everything of a failed execution but its read statistics."""
  if not fileio.exists(uri):
    return
  keep = {STATISTICS_JSON, STATISTICS_MARKDOWN}
  for name in fileio.listdir(uri):
    name = name.rstrip('/')
    if name in keep:
      continue
    path = os.path.join(uri, name)
    if fileio.isdir(path):
      fileio.rmtree(path)
    else:
      fileio.remove(path)
