"""DataContractCheck's per-example, per-split and dataset-wide rules."""

import json

import apache_beam as beam
import handmade_data
import pytest

from components.data import contract_rules
from components.data import data_contract

COUNTS = ('library', 'round1_positive')


def _example(sequence='ACGTACGTACGT', cluster=1, floats=None, **counts):
  counts = {'library': 3, 'round1_positive': 1, **counts}
  return handmade_data.example(sequence, counts, cluster, floats)


def _problems(example, **kwargs):
  return contract_rules.example_problems(example, 12, COUNTS, **kwargs)


def test_a_valid_example_has_no_problems():
  assert _problems(_example(floats={'kd': 0.5, 'mfe': -3.0})) == []


@pytest.mark.parametrize('value', [float('inf'), float('-inf')])
def test_an_infinite_float_is_a_problem(value):
  assert _problems(_example(floats={'kd': value})) == [
    ('kd', contract_rules.IS_INFINITE, str(value))
  ]


def test_nan_is_missing_not_a_problem():
  example = _example(floats={'kd': float('nan'), 'mfe': 1.0})
  assert _problems(example, log_normalised_floats=['kd']) == []
  assert contract_rules.missing_floats(example, COUNTS) == ['kd']
  assert contract_rules.missing_floats(_example(), COUNTS) == []


def test_values_at_most_minus_one_are_refused_only_when_log_normalised():
  example = _example(floats={'kd': -1.0, 'mfe': -5.0})
  assert _problems(example) == []
  assert _problems(example, log_normalised_floats=['kd']) == [
    ('kd', contract_rules.IS_LOG_UNDEFINED, '-1.0')
  ]
  # log(1 + x) is defined above -1.
  assert (
    _problems(_example(floats={'kd': -0.5}), log_normalised_floats=['kd']) == []
  )


def test_a_count_field_stored_as_float_is_reported_once():
  example = _example()
  feature = example.features.feature['library']
  feature.Clear()
  feature.float_list.value.append(float('inf'))
  assert _problems(example) == [('library', 'is not a single int64 value', '')]


def test_a_count_above_max_count_is_a_problem():
  assert _problems(_example(library=2**62)) == [
    ('library', 'is above max_count (1000000000)', str(2**62))
  ]
  assert _problems(_example(library=10**9)) == []
  assert _problems(_example(library=11), max_count=10) == [
    ('library', 'is above max_count (10)', '11')
  ]


def test_split_counts_and_formatting():
  examples = [
    _example(floats={'kd': float('nan')}),
    _example(floats={'kd': float('inf')}),
    _example(library=2**40, floats={'kd': 1.0}),
  ]
  combiner = contract_rules.CountProblems()
  acc = combiner.create_accumulator()
  for example in examples:
    acc = combiner.add_input(
      acc, contract_rules.check_example(example, 12, COUNTS)
    )
  result = combiner.extract_output(combiner.merge_accumulators([acc]))
  assert result['missing'] == {'kd': 1}
  lines = data_contract.format_problems('train', result)
  assert len(lines) == 2
  assert lines[0].startswith(
    "split 'train': feature 'kd' is infinite in 1 of 3 examples (e.g. 'inf'): "
    'use a finite value, or NaN'
  )
  assert lines[1].startswith(
    "split 'train': feature 'library' is above max_count (1000000000) in 1 "
    f"of 3 examples (e.g. '{2**40}'): no sequencing run"
  )
  assert data_contract.format_warnings('train', result) == [
    "warning: feature 'kd' is NaN (missing) in 1 of 3 examples of split "
    "'train'; those examples do not count for that output"
  ]


def _dataset_result(tmp_path, pairs):
  """Runs DatasetProblems on a DirectRunner; its one result, through JSON."""
  path = str(tmp_path / 'dataset.json')
  with beam.Pipeline() as p:
    _ = (
      p
      | beam.Create(
        [contract_rules.dataset_facts(e, split, COUNTS) for split, e in pairs],
        reshuffle=False,
      )
      | contract_rules.DatasetProblems(COUNTS)
      | beam.Map(json.dumps)
      | beam.io.WriteToText(path, shard_name_template='')
    )
  with open(path) as f:
    [line] = f.read().splitlines()
  return json.loads(line)


def test_dataset_problems_of_a_clean_dataset(tmp_path):
  pairs = [
    ('train', _example('AAAAAAAAAAAA', round1_positive=0)),
    ('eval', _example('CCCCCCCCCCCC', round1_positive=2)),
  ]
  result = _dataset_result(tmp_path, pairs)
  assert result['examples'] == 2
  assert result['column_max'] == {'library': 3, 'round1_positive': 2}
  assert result['duplicates']['sequences'] == 0
  assert data_contract.format_dataset_problems(result, COUNTS) == []


def test_duplicated_sequences_are_found_across_splits(tmp_path):
  pairs = [
    ('train', _example('AAAAAAAAAAAA', cluster=1)),
    ('eval', _example('AAAAAAAAAAAA', cluster=2)),
    ('train', _example('CCCCCCCCCCCC', cluster=3)),
    ('train', _example('CCCCCCCCCCCC', cluster=3)),
    ('train', _example('CCCCCCCCCCCC', cluster=4)),
    ('eval', _example('GGGGGGGGGGGG', cluster=5)),
  ]
  result = _dataset_result(tmp_path, pairs)
  assert result['duplicates'] == {
    'sequences': 2,
    'examples': 5,
    'cross_split': 1,
    'samples': [
      ['AAAAAAAAAAAA', 2, ['eval', 'train']],
      ['CCCCCCCCCCCC', 3, ['train']],
    ],
  }
  [line] = data_contract.format_dataset_problems(result, COUNTS)
  assert line.startswith(
    "all splits: feature 'sequence' is duplicated: 2 distinct sequences "
    'occur in more than one example (5 of 6 examples), 1 of them in more '
    'than one split'
  )
  assert "'AAAAAAAAAAAA' in 2 examples (eval, train)" in line
  assert 'merge their counts into one example per sequence' in line


def test_duplicates_within_one_split_are_a_problem_too(tmp_path):
  pairs = [
    ('train', _example('AAAAAAAAAAAA', cluster=1)),
    ('train', _example('AAAAAAAAAAAA', cluster=1)),
  ]
  result = _dataset_result(tmp_path, pairs)
  assert result['duplicates']['cross_split'] == 0
  [line] = data_contract.format_dataset_problems(result, COUNTS)
  assert 'each within one split, counted more than once' in line


def test_an_all_zero_read_column_is_a_problem(tmp_path):
  pairs = [
    ('train', _example('AAAAAAAAAAAA', round1_positive=0)),
    ('eval', _example('CCCCCCCCCCCC', round1_positive=0)),
  ]
  result = _dataset_result(tmp_path, pairs)
  assert result['column_max']['round1_positive'] == 0
  assert data_contract.format_dataset_problems(result, COUNTS) == [
    "all splits: feature 'round1_positive' has only zero counts in all 2 "
    'examples: no example informs this output; remove the read from the '
    'experiment or fix the export'
  ]


def test_a_column_no_example_carries_is_left_to_the_missing_rule(tmp_path):
  example = _example()
  del example.features.feature['round1_positive']
  result = _dataset_result(tmp_path, [('train', example)])
  assert 'round1_positive' not in result['column_max']
  assert data_contract.format_dataset_problems(result, COUNTS) == []


def test_rules_read_tensorflow_free_examples_as_tensorflow_ones():
  example = _example(
    sequence='ACGTNCGTACG', floats={'kd': float('inf'), 'mfe': float('nan')}
  )
  ours = contract_rules.parse_example(example.SerializeToString())
  expected = contract_rules.check_example(example, 12, COUNTS)
  assert len(expected[0]) == 3 and expected[1] == ['mfe']
  assert contract_rules.check_example(ours, 12, COUNTS) == expected
