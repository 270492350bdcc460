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
import math
import os
import tempfile
from typing import Dict
from typing import Iterable
from typing import List
from typing import Sequence
from typing import Tuple
import uuid

import apache_beam as beam
from apache_beam.options import pipeline_options
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.config import data_contract as data_contract_config
from components.data import experiment_schema
from schema import experiment as experiment_lib

_VALID_BASES = frozenset(b'ACGT')
_MAX_SAMPLES = 3
ANOMALIES_FILE_NAME = 'SchemaDiff.pb'
# Far above the reads any sequencing run gives one pool (a NovaSeq S4 flow
# cell gives ~10**10 reads in all, shared by many pools): a count beyond it
# is a corrupted value (an overflow, a wrong column), not a measurement.
DEFAULT_MAX_COUNT = data_contract_config.DEFAULT_MAX_COUNT
_DATASET_RESULT = 'dataset.json'

IS_INFINITE = 'is infinite'
IS_LOG_UNDEFINED = 'is <= -1 but is log-normalised like the counts'
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


def _single(feature, kind):
  values = getattr(feature, kind).value
  return values[0] if len(values) == 1 else None


def _above_max_count(max_count: int) -> str:
  return f'is above max_count ({max_count})'


def _contract_names(count_names: Iterable[str]) -> frozenset:
  return frozenset(
    [
      experiment_schema.SEQUENCE_FEATURE,
      experiment_schema.CLUSTER_FEATURE,
      *count_names,
    ]
  )


def _float_features(example: tf.train.Example, count_names: Iterable[str]):
  """(name, values) of the float features besides the contract's columns.

  A contract column (sequence, counts, cluster) stored as floats is already
  reported as mistyped, so it is not checked again here.
  """
  contract = _contract_names(count_names)
  for name, feature in sorted(example.features.feature.items()):
    if name not in contract and feature.WhichOneof('kind') == 'float_list':
      yield name, feature.float_list.value


def example_problems(
  example: tf.train.Example,
  sequence_length: int,
  count_names: Iterable[str],
  log_normalised_floats: Iterable[str] = (),
  max_count: int = DEFAULT_MAX_COUNT,
) -> List[Tuple[str, str, str]]:
  """Lists what is wrong with one example.

  Args:
    example: the example to check.
    sequence_length: the experiment's fixed sequence length.
    count_names: every read name of the experiment.
    log_normalised_floats: float features normalised with log(1 + x)
      downstream, where a value <= -1 is a problem.
    max_count: the largest plausible count; a count above it is a problem.

  Returns:
    (feature, problem, sample) triples; empty when the example is valid. The
    sample is a short printable value that shows the problem. A NaN float is
    no problem (it means missing, see `missing_floats`).
  """
  count_names = list(count_names)
  log_normalised_floats = frozenset(log_normalised_floats)
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
  for name in count_names + [experiment_schema.CLUSTER_FEATURE]:
    if name not in features:
      problems.append((name, 'is missing', ''))
      continue
    value = _single(features[name], 'int64_list')
    if value is None:
      problems.append((name, 'is not a single int64 value', ''))
    elif name == experiment_schema.CLUSTER_FEATURE:
      continue
    elif value < 0:
      problems.append((name, 'is negative', str(value)))
    elif value > max_count:
      problems.append((name, _above_max_count(max_count), str(value)))
  for name, values in _float_features(example, count_names):
    infinite = [v for v in values if math.isinf(v)]
    if infinite:
      problems.append((name, IS_INFINITE, str(infinite[0])))
    if name in log_normalised_floats:
      low = [v for v in values if v <= -1]
      if low:
        problems.append((name, IS_LOG_UNDEFINED, str(low[0])))
  return problems


def missing_floats(
  example: tf.train.Example, count_names: Iterable[str]
) -> List[str]:
  """Names of the float features that are NaN (missing) in one example."""
  return [
    name
    for name, values in _float_features(example, count_names)
    if any(math.isnan(v) for v in values)
  ]


def check_example(
  example: tf.train.Example,
  sequence_length: int,
  count_names: Sequence[str],
  log_normalised_floats: Iterable[str] = (),
  max_count: int = DEFAULT_MAX_COUNT,
) -> Tuple[List[Tuple[str, str, str]], List[str]]:
  """`example_problems` and `missing_floats` of one example, as a pair."""
  return (
    example_problems(
      example, sequence_length, count_names, log_normalised_floats, max_count
    ),
    missing_floats(example, count_names),
  )


class _CountProblems(beam.CombineFn):
  """Counts examples per (feature, problem) and per NaN feature.

  The input is `check_example`'s (problems, missing floats) pair; a few
  samples are kept per problem.
  """

  def create_accumulator(self):
    return {'examples': 0, 'problems': {}, 'missing': {}}

  def add_input(self, acc, checked):
    problems, missing = checked
    acc['examples'] += 1
    for feature, problem, sample in problems:
      key = f'{feature}\t{problem}'
      count, samples = acc['problems'].get(key, (0, []))
      if len(samples) < _MAX_SAMPLES and sample:
        samples = samples + [sample]
      acc['problems'][key] = (count + 1, samples)
    for feature in missing:
      acc['missing'][feature] = acc['missing'].get(feature, 0) + 1
    return acc

  def merge_accumulators(self, accs):
    out = self.create_accumulator()
    for acc in accs:
      out['examples'] += acc['examples']
      for key, (count, samples) in acc['problems'].items():
        c, s = out['problems'].get(key, (0, []))
        out['problems'][key] = (c + count, (s + samples)[:_MAX_SAMPLES])
      for feature, count in acc['missing'].items():
        out['missing'][feature] = out['missing'].get(feature, 0) + count
    return out

  def extract_output(self, acc):
    return acc


def _sequence_split(split_example):
  """(sequence, split) of a (split, example) pair; none without a sequence."""
  split, example = split_example
  feature = example.features.feature.get(experiment_schema.SEQUENCE_FEATURE)
  seq = _single(feature, 'bytes_list') if feature is not None else None
  if seq is not None:
    yield seq, split


class _Occurrences(beam.CombineFn):
  """Per sequence: in how many examples, and in which splits."""

  def create_accumulator(self):
    return 0, frozenset()

  def add_input(self, acc, split):
    return acc[0] + 1, acc[1] | {split}

  def merge_accumulators(self, accs):
    accs = list(accs)
    return sum(a[0] for a in accs), frozenset().union(*(a[1] for a in accs))

  def extract_output(self, acc):
    return acc


class _DuplicateSummary(beam.CombineFn):
  """Summarises the (sequence, (examples, splits)) of duplicated sequences.

  Samples are the first sequences in (not crossing splits, sequence) order:
  the ones in more than one split first, and deterministic.
  """

  def create_accumulator(self):
    return {'sequences': 0, 'examples': 0, 'cross_split': 0, 'samples': []}

  def add_input(self, acc, duplicate):
    seq, (count, splits) = duplicate
    sample = [seq[:60].decode('ascii', 'replace'), count, sorted(splits)]
    return self.merge_accumulators(
      [
        acc,
        {
          'sequences': 1,
          'examples': count,
          'cross_split': int(len(splits) > 1),
          'samples': [sample],
        },
      ]
    )

  def merge_accumulators(self, accs):
    out = self.create_accumulator()
    samples = []
    for acc in accs:
      for key in ('sequences', 'examples', 'cross_split'):
        out[key] += acc[key]
      samples += acc['samples']
    samples.sort(key=lambda s: (len(s[2]) == 1, s[0]))
    out['samples'] = samples[:_MAX_SAMPLES]
    return out

  def extract_output(self, acc):
    return acc


class _ColumnMaxima(beam.CombineFn):
  """Examples in all, and the largest count of each read column."""

  def __init__(self, count_names: Sequence[str]):
    super().__init__()
    self._count_names = list(count_names)

  def create_accumulator(self):
    return {'examples': 0, 'column_max': {}}

  def add_input(self, acc, split_example):
    _, example = split_example
    acc['examples'] += 1
    features = example.features.feature
    maxima = acc['column_max']
    for name in self._count_names:
      if name in features:
        value = _single(features[name], 'int64_list')
        if value is not None:
          maxima[name] = max(maxima.get(name, value), value)
    return acc

  def merge_accumulators(self, accs):
    out = self.create_accumulator()
    for acc in accs:
      out['examples'] += acc['examples']
      for name, value in acc['column_max'].items():
        out['column_max'][name] = max(out['column_max'].get(name, value), value)
    return out

  def extract_output(self, acc):
    return acc


class DatasetProblems(beam.PTransform):
  """The dataset-wide checks over (split, example) pairs of all splits.

  The output is one dict: `examples` (in all), `column_max` (read column ->
  largest count, columns no example carries as one int64 left out) and
  `duplicates` (`sequences` in more than one example, `examples` holding
  them, `cross_split` sequences in more than one split, a few `samples`
  [sequence, examples, splits]). Sequences are counted with a Beam
  CombinePerKey, not in the launcher's memory.
  """

  def __init__(self, count_names: Sequence[str]):
    super().__init__()
    self._count_names = list(count_names)

  def expand(self, pairs):
    duplicates = (
      pairs
      | 'KeyBySequence' >> beam.FlatMap(_sequence_split)
      | 'CountPerSequence' >> beam.CombinePerKey(_Occurrences())
      | 'Duplicated' >> beam.Filter(lambda kv: kv[1][0] > 1)
      | 'SummariseDuplicates' >> beam.CombineGlobally(_DuplicateSummary())
    )
    return (
      pairs
      | 'ColumnMaxima' >> beam.CombineGlobally(_ColumnMaxima(self._count_names))
      | 'AddDuplicates'
      >> beam.Map(
        lambda result, dups: dict(result, duplicates=dups),
        beam.pvalue.AsSingleton(duplicates),
      )
    )


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
  advice[_above_max_count(max_count)] = _ABOVE_MAX_COUNT_ADVICE
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
        split_examples = p | f'Read[{split}]' >> beam.io.ReadFromTFRecord(
          _split_files(examples, split),
          coder=beam.coders.ProtoCoder(tf.train.Example),
        )
        _ = (
          split_examples
          | f'Check[{split}]'
          >> beam.Map(check_example, length, count_names, log_floats, max_count)
          | f'Count[{split}]' >> beam.CombineGlobally(_CountProblems())
          | f'ToJson[{split}]' >> beam.Map(json.dumps)
          | f'Write[{split}]'
          >> beam.io.WriteToText(
            os.path.join(result_dir, split), shard_name_template=''
          )
        )
        tagged.append(
          split_examples
          | f'Tag[{split}]' >> beam.Map(lambda e, s=split: (s, e))
        )
      _ = (
        tagged
        | 'AllSplits' >> beam.Flatten()
        | 'Dataset' >> DatasetProblems(count_names)
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
