"""FastqExampleGen's Beam executor: FASTQ reads to counted, clustered examples.

The Beam pipeline (the input source of TFX's ExampleGen; each example is
then assigned TFX's hash split of its `cluster` feature and written where
TFX's ExampleGen writes, see `Executor`). Every step runs in
worker_functions.py, which imports neither TensorFlow nor TFX:

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
sequence in a bounded dictionary (flushed every `FLUSH_KEYS` keys). A
flush sends the counts as count tables (count_table.py): one element per
shard of the sequences' hash, holding numpy arrays, so the shuffle moves
`NUM_SHARDS` elements per file and flush instead of one per unique
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

import dataclasses
import json
import os
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

from absl import logging
import apache_beam as beam
from google.protobuf import struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.config import fastq as fastq_settings
from components.data import clustering
from components.data import example_gen_splits
from components.data import fastq_dataset
from components.data import split_writing
from components.data.fastq import read_qc as qc_lib
from components.data.fastq import read_stats
from components.data.fastq_example_gen import worker_functions
from schema import experiment as experiment_lib

SEQUENCE_FEATURE = worker_functions.SEQUENCE_FEATURE
CLUSTER_FEATURE = worker_functions.CLUSTER_FEATURE
# The one key of the Struct packed into ExampleGen's CustomConfig: a JSON
# string of FastqConfig.to_dict() (JSON keeps ints ints; a Struct would
# turn them into floats).
CUSTOM_CONFIG_KEY = 'fastq_example_gen'
STATISTICS_JSON = worker_functions.STATISTICS_JSON
STATISTICS_MARKDOWN = worker_functions.STATISTICS_MARKDOWN
# Private exec property, like ExampleGen's own `_beam_pipeline_args`.
_OUTPUT_URI_KEY = '_fastq_examples_uri'
source_name = worker_functions.source_name
summarise = worker_functions.summarise
to_markdown = worker_functions.to_markdown
to_console = worker_functions.to_console
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


@beam.ptransform_fn
def _FastqToExample(  # pylint: disable=invalid-name
  pipeline: beam.Pipeline,
  exec_properties: Dict[str, Any],
  split_pattern: str,
  assign: split_writing.SplitAssigner,
) -> beam.pvalue.PCollection:
  """The counted, clustered examples of the dataset's FASTQ files.

  Args:
    pipeline: the Beam pipeline.
    exec_properties: ExampleGen's, with `input_base` (the dataset directory)
      and `custom_config` (FastqConfig); `Do` adds the output URI.
    split_pattern: unused; the experiment names the files (the input
      pattern serves the driver's fingerprint, i.e. caching).
    assign: gives each example its output split.

  Returns:
    (split index, serialized tf.Example), one per unique sequence.
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
    >> beam.ParDo(
      worker_functions.ReadAndFilter(qc_config, worker_functions.FLUSH_KEYS)
    ).with_outputs(worker_functions.STATS_TAG, main=worker_functions.COUNTS_TAG)
  )
  gate = beam.pvalue.AsSingleton(
    read[worker_functions.STATS_TAG]
    | 'GatherStats' >> beam.combiners.ToList()
    | 'CheckPassRate'
    >> beam.Map(
      worker_functions.check_and_write_stats,
      output_uri,
      config.min_pass_fraction,
    )
  )
  length = qc_config.sequence_length
  tables = (
    read[worker_functions.COUNTS_TAG]
    | 'GroupShards' >> beam.GroupByKey()
    | 'MergeShards'
    >> beam.Map(worker_functions.merge_shard, count_names, length)
  )
  clusters = (
    tables
    | 'Totals' >> beam.MapTuple(worker_functions.totals)
    | 'GatherTotals' >> beam.combiners.ToList()
    | 'Cluster'
    >> beam.FlatMap(worker_functions.cluster, gate, config.max_distance)
  )
  return (
    {worker_functions.COUNTS_TAG: tables, CLUSTER_FEATURE: clusters}
    | 'JoinClusters' >> beam.CoGroupByKey()
    | 'ToExamples'
    >> beam.FlatMap(worker_functions.to_examples, count_names, gate, assign)
  )


def read_statistics(examples_uri: str) -> Optional[Dict[str, Any]]:
  """The statistics an execution wrote, or None."""
  path = os.path.join(examples_uri, STATISTICS_JSON)
  if not fileio.exists(path):
    return None
  with fileio.open(path, 'r') as f:
    return json.loads(f.read())


class Executor(
  example_gen_splits.SplitWriting,
  base_example_gen_executor.BaseExampleGenExecutor,
):
  """Counts the FASTQ reads of an experiment into split tf.Examples.

  `GenerateExamplesByBeam` and `Do` are TFX's, with the partition function
  and the split writer replaced by `split_writing`'s equivalents: TFX's
  live in `tfx.components`, whose import cost every Beam worker about 7.5 s.
  The splits, file names, payload format and artifact properties are the
  ones TFX's ExampleGen produces.
  """

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    """The PTransform from the dataset's FASTQ files to examples."""
    return _FastqToExample

  def GenerateExamplesByBeam(
    self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
  ) -> Dict[str, beam.pvalue.PCollection]:
    """Split name -> serialized examples, split as TFX's ExampleGen splits.

    Raises:
      FastqExampleGenError: no output splits, or an unknown partition
        feature.
    """
    input_config, output_config = example_gen_splits.input_and_output_configs(
      exec_properties
    )
    experiment = FastqConfig.from_exec_properties(exec_properties).experiment()
    feature_names = [SEQUENCE_FEATURE, CLUSTER_FEATURE]
    feature_names += experiment_lib.all_count_names(experiment)
    try:
      assign = example_gen_splits.split_assigner(
        'FastqExampleGen', output_config, feature_names
      )
    except example_gen_splits.OutputConfigError as e:
      raise FastqExampleGenError(str(e)) from e
    exec_properties['_beam_pipeline_args'] = self._beam_pipeline_args or []
    assigned = (
      pipeline
      | 'InputToRecord'
      >> self.GetInputSourceToExamplePTransform()(
        exec_properties, input_config.splits[0].pattern, assign
      )
    )
    return example_gen_splits.split_examples(
      assigned, input_config, output_config
    )

  def Do(
    self,
    input_dict: Dict[str, List[Any]],
    output_dict: Dict[str, List[Any]],
    exec_properties: Dict[str, Any],
  ) -> None:
    """Writes the split examples; on failure removes the splits and re-raises.

    Raises:
      fastq_dataset.FastqDatasetError: the dataset layout is wrong (before
        the Beam pipeline starts).
      records.FastqError: a FASTQ file is broken (names file and record).
      read_stats.LowPassRateError: almost no read of a file passed.
      FastqExampleGenError: the custom or output config is invalid.
    """
    self._log_startup(input_dict, output_dict, exec_properties)
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
      self._write_splits(examples, exec_properties)
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
