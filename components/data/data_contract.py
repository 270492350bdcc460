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

The rules, besides ExampleValidator's (types, presence, count domain):

- `sequence`: one bytes value of A/C/G/T, exactly the experiment's length;
  and no sequence in more than one example across all splits (a duplicate
  would be counted twice, and copies with other clusters can land in both
  train and eval, breaking the cluster-disjoint split).
- counts: one int64 per read name, >= 0 and <= `max_count` (default 10**9,
  far above the reads any sequencing run gives one pool: a count beyond it
  is a corrupted value); a read column with only zero counts over all
  splits is refused (no example informs that output).
- other float features: inf/-inf is refused; NaN is allowed and means
  "missing": the example does not count for that output (the loss and the
  metrics skip it), and the check prints a warning with the count per
  split. A feature that is log-normalised downstream (`log(1 + x)`, named
  in `log_normalised_floats`) must be > -1.
"""

import collections
import json
import os
import tempfile
from typing import Dict
from typing import Iterable
from typing import List
import uuid

import apache_beam as beam
from apache_beam.options import pipeline_options
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.data import contract_rules
from components.data import experiment_schema
from schema import experiment as experiment_lib

ANOMALIES_FILE_NAME = 'SchemaDiff.pb'
DEFAULT_MAX_COUNT = contract_rules.DEFAULT_MAX_COUNT
IS_INFINITE = contract_rules.IS_INFINITE
IS_LOG_UNDEFINED = contract_rules.IS_LOG_UNDEFINED
_DATASET_RESULT = 'dataset.json'

ZERO_COLUMN = 'has only zero counts'
# What to do about a problem, appended to its line.
_ADVICE = {
  IS_INFINITE: (
    'use a finite value, or NaN where the value is unknown (NaN means '
    'missing: that example does not count for the output)'
  ),
  IS_LOG_UNDEFINED: (
    'log(1 + x) is undefined there; use a feature >= 0 (e.g. shift or '
    'exponentiate it), or one that gets a plain z-score (the linear '
    'structure features, or --nostandardize_log_transform)'
  ),
  ZERO_COLUMN: (
    'no example informs this output; remove the read from the experiment '
    'or fix the export'
  ),
}
_ABOVE_MAX_COUNT_ADVICE = (
  'no sequencing run gives one pool that many reads: a corrupted value (an '
  'overflow, a wrong column); fix the export, or raise --max_count if the '
  'depth is real'
)


class DataContractError(ValueError):
  """The examples do not satisfy the experiment's data contract."""


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


def format_problems(
  split: str, result: Dict, max_count: int = DEFAULT_MAX_COUNT
) -> List[str]:
  """Readable lines for one split's problem counts."""
  lines = []
  total = result['examples']
  advice = dict(_ADVICE)
  advice[contract_rules.above_max_count(max_count)] = _ABOVE_MAX_COUNT_ADVICE
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
    if problem in advice:
      line += ': ' + advice[problem]
    lines.append(line)
  if total == 0:
    lines.append(f"split '{split}': no examples")
  return lines


def format_warnings(split: str, result: Dict) -> List[str]:
  """Warning lines for one split's NaN (missing) float features."""
  total = result['examples']
  return [
    f"warning: feature '{feature}' is NaN (missing) in {count} of {total} "
    f"examples of split '{split}'; those examples do not count for that "
    'output'
    for feature, count in sorted(result.get('missing', {}).items())
  ]


def format_dataset_problems(
  result: Dict, count_names: Iterable[str]
) -> List[str]:
  """Readable lines for `DatasetProblems`' result (all splits together)."""
  lines = []
  total = result['examples']
  for name in count_names:
    if result['column_max'].get(name) == 0:
      lines.append(
        f"all splits: feature '{name}' {ZERO_COLUMN} in all {total} "
        f'examples: {_ADVICE[ZERO_COLUMN]}'
      )
  dups = result['duplicates']
  if dups['sequences']:
    samples = ', '.join(
      f'{seq!r} in {count} examples ({", ".join(splits)})'
      for seq, count, splits in dups['samples']
    )
    if dups['cross_split']:
      where = (
        f'{dups["cross_split"]} of them in more than one split, which breaks '
        'the cluster-disjoint train/validation/test split'
      )
    else:
      where = 'each within one split, counted more than once'
    lines.append(
      f"all splits: feature 'sequence' is duplicated: {dups['sequences']} "
      f'distinct sequences occur in more than one example '
      f'({dups["examples"]} of {total} examples), {where} (e.g. {samples}): '
      'merge their counts into one example per sequence (sum each read, '
      'keep one cluster), or drop the extra copies'
    )
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
  log_normalised_floats: tfx.dsl.components.Parameter[str] = '',
  max_count: tfx.dsl.components.Parameter[int] = DEFAULT_MAX_COUNT,
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
    log_normalised_floats: comma-separated float features that Transform
      normalises with log(1 + x) (like the counts); a value <= -1 in one of
      them is refused.
    max_count: the largest plausible count (default 10**9, far above the
      reads any sequencing run gives one pool); a count above it is refused
      as a corrupted value.
    beam_pipeline: provided by TFX, with the pipeline's Beam arguments.

  Raises:
    DataContractError: listing every feature and problem found, with the
      number of affected examples per split (or over all splits for the
      duplicate sequences and all-zero read columns).
  """
  experiment = experiment_lib.parse_experiment(
    experiment_pbtxt, 'experiment_pbtxt'
  )
  if max_count < 1:
    raise ValueError(f'max_count must be >= 1, got {max_count}')
  log_floats = [n.strip() for n in log_normalised_floats.split(',')]
  log_floats = [n for n in log_floats if n]
  length = experiment.sequence_length
  count_names = experiment_lib.all_count_names(experiment)
  splits = artifact_utils.decode_split_names(examples.split_names)
  # Beam results travel through files: the pipeline runs in workers.
  result_dir = os.path.join(
    _scratch_root(beam_pipeline), f'data_contract_check-{uuid.uuid4().hex}'
  )
  try:
    with beam_pipeline as p:
      tagged = []
      for split in splits:
        split_examples = (
          p
          | f'Read[{split}]'
          >> beam.io.ReadFromTFRecord(_split_files(examples, split))
          | f'Parse[{split}]' >> beam.Map(contract_rules.parse_example)
        )
        _ = (
          split_examples
          | f'Check[{split}]'
          >> beam.Map(
            contract_rules.check_example,
            length,
            count_names,
            log_floats,
            max_count,
          )
          | f'Count[{split}]'
          >> beam.CombineGlobally(contract_rules.CountProblems())
          | f'ToJson[{split}]' >> beam.Map(json.dumps)
          | f'Write[{split}]'
          >> beam.io.WriteToText(
            os.path.join(result_dir, split), shard_name_template=''
          )
        )
        tagged.append(
          split_examples
          | f'Facts[{split}]'
          >> beam.Map(contract_rules.dataset_facts, split, count_names)
        )
      _ = (
        tagged
        | 'AllSplits' >> beam.Flatten()
        | 'Dataset' >> contract_rules.DatasetProblems(count_names)
        | 'DatasetToJson' >> beam.Map(json.dumps)
        | 'WriteDataset'
        >> beam.io.WriteToText(
          os.path.join(result_dir, _DATASET_RESULT), shard_name_template=''
        )
      )
    lines = []
    warnings = []
    summary = collections.OrderedDict()
    for split in splits:
      with tf.io.gfile.GFile(os.path.join(result_dir, split)) as f:
        result = json.loads(f.read())
      summary[split] = result['examples']
      lines += format_problems(split, result, max_count)
      lines += read_anomalies(anomalies, split)
      warnings += format_warnings(split, result)
    with tf.io.gfile.GFile(os.path.join(result_dir, _DATASET_RESULT)) as f:
      lines += format_dataset_problems(json.loads(f.read()), count_names)
  finally:
    if tf.io.gfile.exists(result_dir):
      tf.io.gfile.rmtree(result_dir)
  for warning in warnings:
    print(warning)
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
