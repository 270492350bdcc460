"""The typed configuration layer: defaults, validation and serialisation."""

import json
import subprocess
import sys

import pytest

from components.config import data_contract
from components.config import hparams
from components.config import model_options
from components.config import pipeline_config
from components.config import run_config
from components.config import structure
from components.config import sweep
from components.config import training
from components.config import transform_config
from components.config import tuner


def test_configuration_layer_imports_no_tensorflow_or_viennarna():
  code = (
    'import sys\n'
    'import components.config.pipeline_config, components.config.keys\n'
    'print(sorted(m for m in ("tensorflow", "keras", "RNA", "tfx") '
    'if m in sys.modules))'
  )
  out = subprocess.run(
    [sys.executable, '-c', code], capture_output=True, text=True, check=True
  ).stdout
  assert json.loads(out.replace("'", '"')) == []


def test_run_config_round_trips_through_custom_config():
  config = run_config.RunConfig(
    experiment_pbtxt='sequence_length: 12',
    hparams={'num_conv_layers': 0, 'num_fc_layers': 2, 'dropouts': [0, 0, 0]},
    model=model_options.ModelOptions(
      loss_name='CROSS_ENTROPY', loss_norm='BINARIZE'
    ),
    training=training.TrainingConfig(epochs=3, mbsz=16),
    tuner=tuner.TunerConfig(num_trials=4, tuner_loss='loss'),
  )
  # custom_config travels as JSON.
  serialised = json.loads(json.dumps(config.to_custom_config()))
  assert run_config.RunConfig.from_custom_config(serialised) == config


def test_replicas_and_combinations_derive_from_one_run_config():
  config = pipeline_config.PipelineConfig(
    hparams={'num_conv_layers': 2, 'num_fc_layers': 1}
  ).run_config('sequence_length: 12')
  assert config.for_replica(3).training.seed == 3
  combination = sweep.MetaCombination(
    3, 0, 'LATENT_WITH_DEPS', 'POISSON_LOSS', 'SKIP'
  )
  derived = config.for_combination(combination)
  assert derived.hparams['num_fc_layers'] == 3
  assert derived.hparams['num_conv_layers'] == 0
  assert derived.model.output_layer == 'LATENT_WITH_DEPS'
  assert derived.model.loss_norm == 'SKIP'


def test_transform_config_round_trips_and_rejects_unknown_keys():
  config = transform_config.TransformConfig.create(
    model_options.ModelOptions(input_features=('SEQUENCE_KMER_COUNT',)),
    sequence_length=40,
    target_names=['r1'],
    parent_names={'r1': 'lib'},
    input_reads=['lib'],
    target_norms=['STANDARDIZE', 'BINARIZE'],
  )
  serialised = json.loads(json.dumps(config.to_custom_config()))
  assert transform_config.TransformConfig.from_custom_config(serialised) == (
    config
  )
  assert config.target_norms == ['BINARIZE', 'STANDARDIZE']
  with pytest.raises(ValueError, match=r"unknown Transform settings: \['k'\]"):
    transform_config.TransformConfig.from_custom_config({**serialised, 'k': 1})


@pytest.mark.parametrize(
  'kwargs, message',
  [
    (
      {
        'sweep': (
          sweep.MetaCombination(
            1, 0, 'LATENT_AFFINITY', 'SQUARED_ERROR', 'STANDARDIZE'
          ),
        )
      },
      'a sweep needs tuner settings',
    ),
    ({'num_replicas': 0}, '--num_replicas must be >= 1, got 0'),
    (
      {'model': model_options.ModelOptions(additional_outputs=('mfe',))},
      'folding is off',
    ),
    (
      {'hparams': {'nonsense': 3}},
      r"--hpconfig: unknown hyper-parameters: \['nonsense'\]",
    ),
    (
      {
        'hparams': {'dropouts': [0.1, 0.2]},
        'tuner': tuner.TunerConfig(),
        'sweep': tuple(sweep.grid(num_fc_layers=[1, 2])),
      },
      r'--hpconfig \(sweep combination .*num_fc_layers=2.*\): dropouts needs 3',
    ),
  ],
)
def test_pipeline_config_rejects_inconsistent_settings(kwargs, message):
  values = {'hparams': {}, **kwargs}
  with pytest.raises(ValueError, match=message):
    pipeline_config.PipelineConfig(**values)


def test_affinity_map_must_name_training_targets():
  config = pipeline_config.PipelineConfig(
    hparams={},
    model=model_options.ModelOptions(
      output_layer='FULLY_OBSERVED', affinity_target_map={'t': ['r9']}
    ),
  )
  with pytest.raises(ValueError, match=r"targets of the experiment: \['r9'\]"):
    config.check_targets(['r1', 'r2'])


@pytest.mark.parametrize(
  'make, message',
  [
    (lambda: hparams.HParams(optimizer='rmsprop'), 'optimizer must be one of'),
    (lambda: hparams.HParams(learn_rate=0), 'learn_rate must be > 0'),
    (
      lambda: training.TrainingConfig(epoch_interval_to_save_best=0),
      'at least 1',
    ),
    (
      lambda: tuner.TunerConfig(tuner_loss='mse'),
      '--tuner_loss must be one of',
    ),
    (lambda: tuner.TunerConfig(num_trials=0), '--tuner_trials must be >= 1'),
    (lambda: structure.StructureConfig(sodium=0), 'structure_sodium must be'),
    (
      lambda: structure.StructureConfig(energy_parameters='x'),
      'structure_energy_parameters must be one of',
    ),
    (
      lambda: model_options.ModelOptions(dependency_norm='LOG'),
      'dependency_norm must be one of',
    ),
    (
      lambda: data_contract.DataContractConfig(max_count=0),
      '--max_count must be >= 1, got 0',
    ),
    (
      lambda: data_contract.DataContractConfig(max_count=1.5),
      '--max_count must be an integer',
    ),
  ],
)
def test_each_config_validates_its_own_fields(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_tuner_objective_directions():
  assert tuner.TunerConfig().direction == 'max'
  assert tuner.TunerConfig(tuner_loss='loss').direction == 'min'


def test_log_normalised_floats_follow_the_target_normaliser():
  def floats(**model):
    return pipeline_config.PipelineConfig(
      hparams={},
      model=model_options.ModelOptions(**model),
      structure=structure.StructureConfig(),
    ).log_normalised_floats

  outputs = ('partition_function', 'mfe', 'kd')
  assert floats(additional_outputs=outputs) == ['partition_function', 'kd']
  assert (
    floats(additional_outputs=outputs, standardize_log_transform=False) == []
  )
  assert (
    floats(
      additional_outputs=outputs,
      loss_name='CROSS_ENTROPY',
      loss_norm='BINARIZE',
    )
    == []
  )


def test_blessing_affinity_gate_defaults_and_validation():
  from components.config import blessing

  config = blessing.BlessingConfig()
  # AUC above chance (0.5) by a margin, far below the true affinity's 0.99
  # on the demo (tests/affinity_metrics_test.py); Spearman only not
  # inverted (see blessing.py).
  assert config.min_affinity_auc == blessing.DEFAULT_MIN_AFFINITY_AUC == 0.6
  assert config.min_affinity_spearman == 0.0
  assert blessing.BlessingConfig(min_affinity_auc=1.01).min_affinity_auc > 1
  for kwargs, message in [
    ({'min_affinity_auc': -0.1}, '--min_affinity_auc must be >= 0'),
    ({'min_affinity_auc': float('nan')}, '--min_affinity_auc must be >= 0'),
    ({'min_affinity_spearman': 1.5}, r'--min_affinity_spearman must be in'),
    ({'min_auc_true_top_1p': -1}, '--min_auc_true_top_1p must be >= 0'),
  ]:
    with pytest.raises(ValueError, match=message):
      blessing.BlessingConfig(**kwargs)


def test_affinity_gate_flags_reach_the_blessing_config():
  from pipeline import run_options

  defaults = run_options.pipeline_config(run_options.RunOptions()).blessing
  assert defaults.min_affinity_auc == 0.6
  assert defaults.min_affinity_spearman == 0.0
  config = run_options.pipeline_config(
    run_options.RunOptions(min_affinity_auc=0.7, min_affinity_spearman=0.25)
  ).blessing
  assert (config.min_affinity_auc, config.min_affinity_spearman) == (0.7, 0.25)
  with pytest.raises(run_options.InputError, match='min_affinity_spearman'):
    run_options.pipeline_config(
      run_options.RunOptions(min_affinity_spearman=-2)
    )


def test_transform_config_carries_binding_evidence():
  evidence = [
    {
      'molecule': 'target',
      'rounds': [
        {
          'name': 'r1',
          'target_concentration': 10.0,
          'positive': 'r1_pos',
          'negative': 'r1_neg',
          'input': 'lib',
        }
      ],
    }
  ]
  config = pipeline_config.PipelineConfig(hparams={}).transform_config(
    sequence_length=12,
    targets=['r1_neg', 'r1_pos'],
    parents={'r1_neg': 'lib', 'r1_pos': 'lib'},
    input_reads=['lib'],
    binding_evidence=evidence,
  )
  assert config.binding_evidence == evidence
  serialised = json.loads(json.dumps(config.to_custom_config()))
  assert transform_config.TransformConfig.from_custom_config(serialised) == (
    config
  )
  # Without evidence (the default), as before.
  plain = pipeline_config.PipelineConfig(hparams={}).transform_config(
    12, ['r1_pos'], {'r1_pos': 'lib'}, ['lib']
  )
  assert plain.binding_evidence == []


def test_max_count_flag_reaches_the_data_contract_check():
  from pipeline import run_options

  options = run_options.RunOptions(max_count=5000)
  config = run_options.pipeline_config(options)
  assert config.data_contract.max_count == 5000
  with pytest.raises(run_options.InputError, match='--max_count must be >= 1'):
    run_options.pipeline_config(run_options.RunOptions(max_count=0))


def test_fastq_flags_reach_fastq_example_gen_settings():
  import dataclasses as dc

  from components.config import fastq
  from pipeline import run_options

  option_names = {f.name for f in dc.fields(run_options.RunOptions)}
  # Every read filter has its flag.
  assert {fastq.FLAG_PREFIX + n for n in fastq.READ_QC_FIELDS} <= option_names
  defaults = run_options.pipeline_config(run_options.RunOptions()).fastq
  assert defaults.read_qc == fastq.READ_QC_DEFAULTS
  assert defaults.read_qc['max_expected_errors'] == 0.5
  assert (defaults.max_distance, defaults.min_pass_fraction) == (5, 0.05)
  changed = run_options.pipeline_config(
    run_options.RunOptions(
      fastq_max_bad_bases=3,
      fastq_max_expected_errors=-1.0,
      fastq_max_distance=2,
    )
  ).fastq
  assert changed.read_qc['max_bad_bases'] == 3
  # Negative turns the expected-error limit off: the original's filters.
  assert changed.read_qc['max_expected_errors'] is None
  assert changed.component_kwargs()['max_distance'] == 2


@pytest.mark.parametrize(
  'kwargs, message',
  [
    ({'fastq_max_bad_bases': -1}, r'--fastq_max_bad_bases=-1 must be >= 0'),
    ({'fastq_min_mean_quality': 99.0}, r'--fastq_min_mean_quality=99.0'),
    ({'fastq_max_primer_mismatches': 20}, r'--fastq_max_primer_mismatches'),
    ({'fastq_max_distance': -2}, r'--fastq_max_distance=-2 must be >= 0'),
    ({'fastq_min_pass_fraction': 1.5}, r'--fastq_min_pass_fraction=1.5'),
  ],
)
def test_bad_fastq_flags_name_the_flag(kwargs, message):
  from pipeline import run_options

  with pytest.raises(run_options.InputError, match=message):
    run_options.pipeline_config(run_options.RunOptions(**kwargs))
