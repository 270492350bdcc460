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
  experiment_lib.load_experiment(os.path.join(data, 'experiment.pbtxt'))
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='bad',
    input_dir=data,
    epochs=1,
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
