"""The playbook's --vars and hpconfig strings, and run-option precedence."""

import dataclasses

import pytest

from pipeline import playbook_vars
from pipeline import run_options

_PLAYBOOK = (
  'run_group=R1,output_layer=LATENT_AFFINITY,loss_name=CROSS_ENTROPY,'
  'num_fc_layers=2,num_conv_layers=0,num_replicas=20,'
  "hpconfig=nonlinearity='tanh',learn_rate=0.01,momentum=0.9,"
  'dropouts=[0.1,0.4,0.001]'
)


def test_the_playbook_replica_example_parses():
  values = playbook_vars.parse_vars(_PLAYBOOK)
  assert values == {
    'run_name': 'R1',
    'output_layer': 'LATENT_AFFINITY',
    'loss_name': 'CROSS_ENTROPY',
    'num_fc_layers': 2,
    'num_conv_layers': 0,
    'num_replicas': 20,
    'hpconfig': "nonlinearity='tanh',learn_rate=0.01,momentum=0.9,"
    'dropouts=[0.1,0.4,0.001]',
  }
  assert playbook_vars.parse_hpconfig(values['hpconfig']) == {
    'nonlinearity': 'tanh',
    'learn_rate': 0.01,
    'momentum': 0.9,
    'dropouts': [0.1, 0.4, 0.001],
  }


def test_hpconfig_may_be_followed_by_more_vars():
  values = playbook_vars.parse_vars(
    'hpconfig=learn_rate=0.01,dropouts=[0.1,0.2],autotune=true'
  )
  assert values['hpconfig'] == 'learn_rate=0.01,dropouts=[0.1,0.2]'
  assert values['autotune'] is True


@pytest.mark.parametrize(
  'text, message',
  [
    ('run_grup=R', "unknown key 'run_grup'"),
    ('num_fc_layers=two', 'num_fc_layers must be an integer'),
    ('autotune=maybe', 'autotune must be true or false'),
    ('num_fc_layers=1,num_fc_layers=2', "'num_fc_layers' is given twice"),
    ('output_layer', 'expected key=value'),
    ('hpconfig=dropouts=[0.1,0.2', 'unbalanced brackets'),
    ('hpconfig=nonlinearity=tanh', 'nonlinearity has a malformed value'),
  ],
)
def test_malformed_vars_are_rejected_naming_the_key(text, message):
  with pytest.raises(playbook_vars.VarsError, match=message):
    playbook_vars.parse_vars(text)


def test_autotune_pins_what_vars_names_and_counts_trials():
  options = run_options.RunOptions(
    vars='run_group=S,output_layer=LATENT_AFFINITY,num_replicas=100,'
    'autotune=true'
  ).with_vars()
  assert options.run_name == 'S'
  assert options.tuner_trials == 100 and options.num_replicas == 1
  grid = run_options.sweep_grid(options)
  # 4 FC depths x 1 output layer x 2 losses.
  assert len(grid) == 8
  assert {c.output_layer for c in grid} == {'LATENT_AFFINITY'}
  assert {c.loss_name for c in grid} == {'SQUARED_ERROR', 'CROSS_ENTROPY'}
  assert run_options.pipeline_config(options).tuner.num_trials == 100


def test_default_autotune_grid_is_the_playbooks_40_combinations():
  options = run_options.RunOptions(vars='autotune=true').with_vars()
  assert len(run_options.sweep_grid(options)) == 40
  # Ten random trials per combination unless --tuner_trials says otherwise.
  assert run_options.pipeline_config(options).tuner.num_trials == 10


def test_without_autotune_num_replicas_means_replicas():
  options = run_options.RunOptions(vars=_PLAYBOOK).with_vars()
  config = run_options.pipeline_config(options)
  assert config.num_replicas == 20 and config.sweep == ()
  assert config.hparams['nonlinearity'] == 'tanh'
  assert config.hparams['dropouts'] == [0.1, 0.4, 0.001]
  assert config.model.loss_name == 'CROSS_ENTROPY'


def test_unknown_hpconfig_names_fail_before_any_run(tmp_path):
  from pipeline import local_runner

  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'), hpconfig='learning_rate=0.1'
  )
  with pytest.raises(local_runner.InputError) as error:
    local_runner.build_pipeline(options)
  message = str(error.value)
  assert message.startswith('--hpconfig: unknown hyper-parameters')
  assert "['learning_rate']" in message and "'learn_rate'" in message
  assert not (tmp_path / 'runs').exists()


def test_search_pins_the_optimizer_and_learning_rate_given():
  searched = run_options.RunOptions(tuner_trials=3)
  assert 'learn_rate' not in run_options.hparams(searched)
  assert 'optimizer' not in run_options.hparams(searched)
  pinned = run_options.RunOptions(
    tuner_trials=3, optimizer='adam', learn_rate=0.01
  )
  assert run_options.hparams(pinned)['optimizer'] == 'adam'
  assert run_options.hparams(pinned)['learn_rate'] == 0.01
  plain = run_options.hparams(run_options.RunOptions())
  assert plain['optimizer'] == 'adam' and plain['learn_rate'] == 0.0005


def test_flag_defaults_are_the_typed_configuration_defaults():
  from components.config import hparams
  from components.config import training

  options = run_options.RunOptions()
  config = run_options.pipeline_config(options)
  assert config.training == training.TrainingConfig()
  assert run_options.hparams(options) == {
    k: getattr(hparams.HParams(), k)
    for k in ('num_fc_layers', 'num_conv_layers', 'learn_rate', 'optimizer')
  }


class _Holder:
  def __init__(self, value, present=False):
    self.value, self.present = value, present


def test_preset_then_explicit_flags_then_vars():
  holders = {
    f.name: _Holder(f.default)
    for f in dataclasses.fields(run_options.RunOptions)
  }
  holders['preset'] = _Holder('counts', True)
  holders['num_fc_layers'] = _Holder(1, True)  # Explicit: beats the preset.
  holders['vars'] = _Holder('run_group=V', True)
  options = run_options.from_flags(holders)
  assert options.num_conv_layers == 3  # From the preset.
  assert options.input_features == 'SEQUENCE_ONE_HOT,SEQUENCE_KMER_COUNT'
  assert options.num_fc_layers == 1
  assert options.run_name == 'V'
  # The preset's reports draw samples; an explicit 0 evaluates whole splits.
  assert options.eval_size == 200000
  holders['eval_size'] = _Holder(0, True)
  assert run_options.from_flags(holders).eval_size == 0
  holders['preset'] = _Holder('nope', True)
  with pytest.raises(ValueError, match="--preset='nope' is unknown"):
    run_options.from_flags(holders)


@pytest.mark.parametrize(
  'field, value, message',
  [
    ('eval_size', -5, '--eval_size must be at least 0, got -5'),
    ('epoch_size', -1, '--epoch_size must be at least 0, got -1'),
    ('epochs', 0, '--epochs must be at least 1, got 0'),
    ('mbsz', 0, '--mbsz must be at least 1, got 0'),
  ],
)
def test_bad_training_sizes_fail_before_any_run(
  tmp_path, field, value, message
):
  from pipeline import local_runner

  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'), run_name='bad', **{field: value}
  )
  with pytest.raises(run_options.InputError, match=message):
    run_options.pipeline_config(options)
  with pytest.raises(local_runner.InputError, match=message):
    local_runner.build_pipeline(options)
  assert not (tmp_path / 'runs').exists()
