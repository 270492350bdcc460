"""Broken datasets stop the pipeline before training, with a clear error."""

import os

import handmade_data
import pytest

from components.data import data_contract
from pipeline import local_runner
from schema import experiment as experiment_lib


def _set_sequence(value):
  return lambda i, s, c: (value if i % 50 == 7 else s, c)


def _negative(i, s, c):
  if i % 40 == 3:
    c = dict(c, round1_positive=-2)
  return s, c


def _drop_column(i, s, c):
  if i % 20 == 0:
    c = {k: v for k, v in c.items() if k != 'round1_negative'}
  return s, c


_SEEN = {}


def _duplicate_sequences(i, s, c):
  # Every tenth row repeats the sequence of row i - 6 (another cluster) with
  # new counts.
  _SEEN[i] = s
  if i % 10 == 9:
    return _SEEN[i - 6], dict(c, library=c['library'] + 1)
  return s, c


def _huge_count(i, s, c):
  return s, (dict(c, round1_positive=2**62) if i == 5 else c)


def _infinite_kd(i):
  if i % 25 == 4:
    return {'kd': float('inf')}
  return {'kd': float('nan') if i % 25 == 5 else 0.1 * i}


# Float features added to the cases' examples: `floats(i) -> {name: value}`.
FLOAT_FEATURES = {'infinite_float': _infinite_kd}

CASES = {
  'wrong_alphabet': (
    _set_sequence('ACGTNACGTACG'),
    "feature 'sequence' has characters other than A/C/G/T",
    'ACGTNACGTACG',
  ),
  'wrong_length': (
    _set_sequence('ACGTACGTACGTAA'),
    "feature 'sequence' has a length other than the experiment's 12",
    'length 14',
  ),
  'negative_count': (
    _negative,
    "feature 'round1_positive' is negative",
    '-2',
  ),
  'missing_count_column': (
    _drop_column,
    "feature 'round1_negative' is missing",
    'examples',
  ),
  'experiment_names_absent_read': (
    None,
    "feature 'round1_extra' is missing",
    "feature 'round1_extra'",
  ),
  'duplicated_sequences': (
    _duplicate_sequences,
    "feature 'sequence' is duplicated: 20 distinct sequences occur in more "
    'than one example (40 of 200 examples)',
    'merge their counts into one example per sequence',
  ),
  'all_zero_column': (
    lambda i, s, c: (s, dict(c, round1_negative=0)),
    "all splits: feature 'round1_negative' has only zero counts in all 200 "
    'examples',
    'remove the read from the experiment or fix the export',
  ),
  'huge_count': (
    _huge_count,
    "feature 'round1_positive' is above max_count (1000000000) in 1 of",
    str(2**62),
  ),
  'infinite_float': (
    None,
    "feature 'kd' is infinite in",
    "(e.g. 'inf'",
  ),
}


def _experiment_for(case):
  if case != 'experiment_names_absent_read':
    return handmade_data.EXPERIMENT
  return handmade_data.EXPERIMENT.replace(
    'negative_reads { name: "round1_negative" }',
    'negative_reads { name: "round1_negative" }\n'
    '    }\n  }\n  rounds {\n    key: "round2"\n    value {\n'
    '    input: "round1" method: SELEX\n'
    '    target_concentrations { key: "target" value: 1 }\n'
    '    positive_reads { name: "round1_extra" }',
  )


@pytest.mark.e2e
@pytest.mark.parametrize('case', sorted(CASES))
def test_broken_examples_stop_before_training(tmp_path, case):
  breaker, message, detail = CASES[case]
  data = handmade_data.write_dataset(
    str(tmp_path / 'data'), breaker, experiment=_experiment_for(case)
  )
  if case in FLOAT_FEATURES:
    handmade_data.add_float_features(data, FLOAT_FEATURES[case])
  experiment_lib.load_experiment(os.path.join(data, 'experiment.pbtxt'))
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='bad',
    input_dir=data,
    epochs=1,
    design=False,
    num_conv_layers=0,
  )
  with pytest.raises(data_contract.DataContractError) as raised:
    local_runner.run(options)
  text = str(raised.value)
  assert 'nothing was trained' in text
  assert message in text
  assert detail in text
  # Nothing downstream of the check ran: no transform, no model, no push.
  root = options.pipeline_root
  for component in ('Transform', 'Trainer', 'Evaluator', 'Pusher'):
    assert not os.path.exists(os.path.join(root, component)), component
  assert not os.path.exists(options.serving_model_dir)
