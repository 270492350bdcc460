"""DataContractCheck: stops the pipeline before training on broken examples.

ExampleValidator compares statistics with the schema (missing columns, types,
negative counts) but cannot see sequence content: it cannot tell that a
sequence holds an `N` or has the wrong length. This component runs a Beam pass
over every split for the checks TFDV cannot make, counts the bad examples per
problem, reads ExampleValidator's anomalies, and fails with one message naming
each feature and problem. Only a clean dataset gets its schema passed on, and
Transform consumes that copy, so nothing downstream can run on bad data.

The check edits nothing: `validated_schema` is ExperimentSchemaGen's schema
byte for byte (which already declares the features a later stage adds). The
Beam results travel through a temporary folder that is removed afterwards
(see `_scratch_root`); no output artifact is used as scratch space.
"""

import collections
import json
import os
import tempfile
from typing import Dict
from typing import Iterable
from typing import List
from typing import Tuple
import uuid

import apache_beam as beam
from apache_beam.options import pipeline_options
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.data import experiment_schema
from schema import experiment as experiment_lib

_VALID_BASES = frozenset(b'ACGT')
_MAX_SAMPLES = 3
ANOMALIES_FILE_NAME = 'SchemaDiff.pb'


class DataContractError(ValueError):
  """The examples do not satisfy the experiment's data contract."""


def _single(feature, kind):
  values = getattr(feature, kind).value
  return values[0] if len(values) == 1 else None


def example_problems(
  example: tf.train.Example, sequence_length: int, count_names: Iterable[str]
) -> List[Tuple[str, str, str]]:
  """Lists what is wrong with one example.

  Args:
    example: the example to check.
    sequence_length: the experiment's fixed sequence length.
    count_names: every read name of the experiment.

  Returns:
    (feature, problem, sample) triples; empty when the example is valid. The
    sample is a short printable value that shows the problem.
  """
  features = example.features.feature
  problems = []
  seq_feature = experiment_schema.SEQUENCE_FEATURE
  if seq_feature not in features:
    problems.append((seq_feature, 'is missing', ''))
  else:
    seq = _single(features[seq_feature], 'bytes_list')
    if seq is None:
      problems.append((seq_feature, 'is not a single bytes value', ''))
    else:
      sample = seq[:60].decode('ascii', 'replace')
      if set(seq) - _VALID_BASES:
        problems.append(
          (seq_feature, 'has characters other than A/C/G/T', sample)
        )
      if len(seq) != sequence_length:
        problems.append(
          (
            seq_feature,
            f"has a length other than the experiment's {sequence_length}",
            f'{sample} (length {len(seq)})',
          )
        )
  for name in list(count_names) + [experiment_schema.CLUSTER_FEATURE]:
    if name not in features:
      problems.append((name, 'is missing', ''))
      continue
    value = _single(features[name], 'int64_list')
    if value is None:
      problems.append((name, 'is not a single int64 value', ''))
    elif value < 0 and name != experiment_schema.CLUSTER_FEATURE:
      problems.append((name, 'is negative', str(value)))
  return problems


class _CountProblems(beam.CombineFn):
  """Counts examples per (feature, problem), keeping a few samples."""

  def create_accumulator(self):
    return {'examples': 0, 'problems': {}}

  def add_input(self, acc, problems):
    acc['examples'] += 1
    for feature, problem, sample in problems:
      key = f'{feature}\t{problem}'
      count, samples = acc['problems'].get(key, (0, []))
      if len(samples) < _MAX_SAMPLES and sample:
        samples = samples + [sample]
      acc['problems'][key] = (count + 1, samples)
    return acc

  def merge_accumulators(self, accs):
    out = self.create_accumulator()
    for acc in accs:
      out['examples'] += acc['examples']
      for key, (count, samples) in acc['problems'].items():
        c, s = out['problems'].get(key, (0, []))
        out['problems'][key] = (c + count, (s + samples)[:_MAX_SAMPLES])
    return out

  def extract_output(self, acc):
    return acc


def _split_files(examples, split):
  return os.path.join(artifact_utils.get_split_uri([examples], split), '*')


def _scratch_root(pipeline: beam.Pipeline) -> str:
  """Where the Beam workers can write results the launcher then reads.

  The pipeline's `--temp_location` when it has one (Dataflow requires a
  gs:// one), else this machine's temporary folder: the DirectRunner and the
  LOOPBACK portable runners (Flink, Spark) run their workers here.
  """
  temp = pipeline.options.view_as(
    pipeline_options.GoogleCloudOptions
  ).temp_location
  return temp or tempfile.gettempdir()


def read_anomalies(anomalies_artifact, split) -> List[str]:
  """ExampleValidator's anomalies of one split as readable lines."""
  path = os.path.join(
    artifact_utils.get_split_uri([anomalies_artifact], split),
    ANOMALIES_FILE_NAME,
  )
  anomalies = anomalies_pb2.Anomalies()
  with tf.io.gfile.GFile(path, 'rb') as f:
    anomalies.ParseFromString(f.read())
  lines = []
  for feature, info in sorted(anomalies.anomaly_info.items()):
    reasons = '; '.join(
      r.description or r.short_description for r in info.reason
    )
    lines.append(
      f"split '{split}': feature '{feature}': {reasons or info.description}"
    )
  if anomalies.HasField('dataset_anomaly_info'):
    reasons = '; '.join(
      r.description for r in anomalies.dataset_anomaly_info.reason
    )
    lines.append(f"split '{split}': dataset: {reasons}")
  return lines


def format_problems(split: str, result: Dict) -> List[str]:
  """Readable lines for one split's problem counts."""
  lines = []
  total = result['examples']
  for key, (count, samples) in sorted(result['problems'].items()):
    feature, problem = key.split('\t')
    line = (
      f"split '{split}': feature '{feature}' {problem} in {count} of "
      f'{total} examples'
    )
    if samples:
      line += ' (e.g. ' + ', '.join(repr(s) for s in samples) + ')'
    elif problem == 'is missing' and count == total:
      line += ': the experiment names it but the examples do not carry it'
    lines.append(line)
  if total == 0:
    lines.append(f"split '{split}': no examples")
  return lines


@tfx.dsl.components.component(use_beam=True)
def DataContractCheck(
  examples: tfx.dsl.components.InputArtifact[
    tfx.types.standard_artifacts.Examples
  ],
  schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
  anomalies: tfx.dsl.components.InputArtifact[
    tfx.types.standard_artifacts.ExampleAnomalies
  ],
  validated_schema: tfx.dsl.components.OutputArtifact[
    tfx.types.standard_artifacts.Schema
  ],
  experiment_pbtxt: tfx.dsl.components.Parameter[str],
  beam_pipeline: tfx.dsl.components.BeamComponentParameter[
    beam.Pipeline
  ] = None,
):
  """Checks every example against the experiment; passes the schema on.

  Args:
    examples: the ingested examples (all splits are checked).
    schema: the experiment's schema (ExperimentSchemaGen).
    anomalies: ExampleValidator's output for the same examples and schema.
    validated_schema: an unchanged copy of `schema`, written only when all
      checks pass; what Transform parses (so Transform waits for the check).
    experiment_pbtxt: the experiment in protobuf text format.
    beam_pipeline: provided by TFX, with the pipeline's Beam arguments.

  Raises:
    DataContractError: listing every feature and problem found, with the
      number of affected examples per split.
  """
  experiment = experiment_lib.parse_experiment(
    experiment_pbtxt, 'experiment_pbtxt'
  )
  length = experiment.sequence_length
  count_names = experiment_lib.all_count_names(experiment)
  splits = artifact_utils.decode_split_names(examples.split_names)
  # Beam results travel through files: the pipeline runs in workers.
  result_dir = os.path.join(
    _scratch_root(beam_pipeline), f'data_contract_check-{uuid.uuid4().hex}'
  )
  try:
    with beam_pipeline as p:
      for split in splits:
        _ = (
          p
          | f'Read[{split}]'
          >> beam.io.ReadFromTFRecord(
            _split_files(examples, split),
            coder=beam.coders.ProtoCoder(tf.train.Example),
          )
          | f'Check[{split}]' >> beam.Map(example_problems, length, count_names)
          | f'Count[{split}]' >> beam.CombineGlobally(_CountProblems())
          | f'ToJson[{split}]' >> beam.Map(json.dumps)
          | f'Write[{split}]'
          >> beam.io.WriteToText(
            os.path.join(result_dir, split), shard_name_template=''
          )
        )
    lines = []
    summary = collections.OrderedDict()
    for split in splits:
      with tf.io.gfile.GFile(os.path.join(result_dir, split)) as f:
        result = json.loads(f.read())
      summary[split] = result['examples']
      lines += format_problems(split, result)
      lines += read_anomalies(anomalies, split)
  finally:
    if tf.io.gfile.exists(result_dir):
      tf.io.gfile.rmtree(result_dir)
  if lines:
    raise DataContractError(
      'The examples break the data contract of the experiment; nothing was '
      'trained. Problems found:\n  ' + '\n  '.join(lines)
    )
  # The schema is passed on unchanged: ExperimentSchemaGen wrote the final one.
  io_utils.copy_file(
    os.path.join(schema.uri, experiment_schema.SCHEMA_FILE_NAME),
    os.path.join(validated_schema.uri, experiment_schema.SCHEMA_FILE_NAME),
    overwrite=True,
  )
  print(
    'Data contract check passed: '
    + ', '.join(f'{s}: {n} examples' for s, n in summary.items())
  )
