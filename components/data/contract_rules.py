"""The data contract's rules as DataContractCheck's Beam workers run them.

Per example (`check_example`: sequence, counts, cluster and float features)
and over the whole dataset (`DatasetProblems`: duplicated sequences,
all-zero read columns), counted into small results the launcher formats
(data_contract.py). Kept apart from the component so that a worker imports
Beam and protobuf only: unpickling functions of the component's module made
every worker import TensorFlow and TFX (several seconds each, every run).
Nothing here may import tensorflow or tfx; examples are parsed with the
wire-compatible `schema.example_proto`. The functions accept that class or
`tf.train.Example` alike.
"""

import math
from typing import Iterable
from typing import List
from typing import Sequence
from typing import Tuple

import apache_beam as beam

from components.config import data_contract as data_contract_config
from components.config import keys
from schema import example_proto

_VALID_BASES = frozenset(b'ACGT')
_MAX_SAMPLES = 3
# Far above the reads any sequencing run gives one pool (a NovaSeq S4 flow
# cell gives ~10**10 reads in all, shared by many pools): a count beyond it
# is a corrupted value (an overflow, a wrong column), not a measurement.
DEFAULT_MAX_COUNT = data_contract_config.DEFAULT_MAX_COUNT

IS_INFINITE = 'is infinite'
IS_LOG_UNDEFINED = 'is <= -1 but is log-normalised like the counts'


def parse_example(serialized: bytes) -> example_proto.Example:
  """A serialized tf.Example as the TensorFlow-free message class."""
  return example_proto.Example.FromString(serialized)


def _single(feature, kind):
  values = getattr(feature, kind).value
  return values[0] if len(values) == 1 else None


def above_max_count(max_count: int) -> str:
  return f'is above max_count ({max_count})'


def _contract_names(count_names: Iterable[str]) -> frozenset:
  return frozenset(
    [
      keys.SEQUENCE_FEATURE,
      keys.CLUSTER_FEATURE,
      *count_names,
    ]
  )


def _float_features(example, count_names: Iterable[str]):
  """(name, values) of the float features besides the contract's columns.

  A contract column (sequence, counts, cluster) stored as floats is already
  reported as mistyped, so it is not checked again here.
  """
  contract = _contract_names(count_names)
  for name, feature in sorted(example.features.feature.items()):
    if name not in contract and feature.WhichOneof('kind') == 'float_list':
      yield name, feature.float_list.value


def example_problems(
  example,
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
  seq_feature = keys.SEQUENCE_FEATURE
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
  for name in count_names + [keys.CLUSTER_FEATURE]:
    if name not in features:
      problems.append((name, 'is missing', ''))
      continue
    value = _single(features[name], 'int64_list')
    if value is None:
      problems.append((name, 'is not a single int64 value', ''))
    elif name == keys.CLUSTER_FEATURE:
      continue
    elif value < 0:
      problems.append((name, 'is negative', str(value)))
    elif value > max_count:
      problems.append((name, above_max_count(max_count), str(value)))
  for name, values in _float_features(example, count_names):
    infinite = [v for v in values if math.isinf(v)]
    if infinite:
      problems.append((name, IS_INFINITE, str(infinite[0])))
    if name in log_normalised_floats:
      low = [v for v in values if v <= -1]
      if low:
        problems.append((name, IS_LOG_UNDEFINED, str(low[0])))
  return problems


def missing_floats(example, count_names: Iterable[str]) -> List[str]:
  """Names of the float features that are NaN (missing) in one example."""
  return [
    name
    for name, values in _float_features(example, count_names)
    if any(math.isnan(v) for v in values)
  ]


def check_example(
  example,
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


class CountProblems(beam.CombineFn):
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


def dataset_facts(example, split: str, count_names: Sequence[str]):
  """What the dataset-wide checks need of one example, as plain values.

  Returns:
    (split, sequence bytes or None, one count or None per read name): the
    input of `DatasetProblems`. Beam moves these between its stages, not
    the parsed example (pickling an `example_proto` message costs about
    1,000 times more than this tuple).
  """
  features = example.features.feature
  feature = features.get(keys.SEQUENCE_FEATURE)
  sequence = _single(feature, 'bytes_list') if feature is not None else None
  counts = tuple(
    _single(features[name], 'int64_list') if name in features else None
    for name in count_names
  )
  return split, sequence, counts


def _sequence_split(facts):
  """(sequence, split) of `dataset_facts`; none without a sequence."""
  split, sequence, _ = facts
  if sequence is not None:
    yield sequence, split


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

  def add_input(self, acc, facts):
    _, _, counts = facts
    acc['examples'] += 1
    maxima = acc['column_max']
    for name, value in zip(self._count_names, counts):
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
  """The dataset-wide checks over `dataset_facts` of every example.

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

  def expand(self, facts):
    duplicates = (
      facts
      | 'KeyBySequence' >> beam.FlatMap(_sequence_split)
      | 'CountPerSequence' >> beam.CombinePerKey(_Occurrences())
      | 'Duplicated' >> beam.Filter(lambda kv: kv[1][0] > 1)
      | 'SummariseDuplicates' >> beam.CombineGlobally(_DuplicateSummary())
    )
    return (
      facts
      | 'ColumnMaxima' >> beam.CombineGlobally(_ColumnMaxima(self._count_names))
      | 'AddDuplicates'
      >> beam.Map(
        lambda result, dups: dict(result, duplicates=dups),
        beam.pvalue.AsSingleton(duplicates),
      )
    )
