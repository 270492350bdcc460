"""A small sweep: 2 meta-parameter combinations x 2 trials, then replicas."""

import csv
import json
import math
import os

import handmade_data
from ml_metadata import metadata_store
import numpy as np
import pytest
from tfx import v1 as tfx

from components.config import keys
from components.design import scoring
from components.evaluation import replica_report
from components.search import sweep_selector
from pipeline import configs
from pipeline import local_runner
from tools import run_artifacts


def _only_dir(*parts):
  [name] = os.listdir(os.path.join(*parts))
  return os.path.join(*parts, name)


@pytest.mark.e2e
def test_sweep_selects_the_best_trial_and_reports_every_trial(tmp_path):
  data = handmade_data.write_dataset(str(tmp_path / 'data'))
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    input_dir=data,
    epochs=1,
    tuner_loss='loss',
    design=False,
    min_auc_true_top_1p=0.0,
    # The playbook's string pins 0 FC and 0 conv layers; two output layers
    # are swept, 2 random trials each, then 2 replicas of the winner.
    vars='run_group=sweep,num_fc_layers=0,num_conv_layers=0,autotune=true',
    tuner_trials=2,
    num_replicas=2,
    sweep_output_layers='LATENT_AFFINITY,LATENT_WITH_DEPS',
    sweep_loss_names='SQUARED_ERROR',
  )
  local_runner.run(options)
  root = os.path.join(str(tmp_path / 'runs'), 'sweep', 'pipeline')
  assert {'Tuner_00', 'Tuner_01', 'SweepSelector'} <= set(os.listdir(root))

  report = _only_dir(root, 'SweepSelector', 'sweep_report')
  with open(os.path.join(report, sweep_selector.REPORT_CSV)) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 4  # 2 combinations x 2 trials, every one reported.
  assert {r['output_layer'] for r in rows} == {
    'LATENT_AFFINITY',
    'LATENT_WITH_DEPS',
  }
  completed = [r for r in rows if r['status'] == 'COMPLETED']
  assert completed
  best = min(completed, key=lambda r: float(r['objective']))
  assert rows[0] == best  # Sorted best first (loss: lower is better).
  with open(os.path.join(report, sweep_selector.REPORT_MD)) as f:
    assert 'Best trial per combination' in f.read()

  chosen = _only_dir(root, 'SweepSelector', 'best_hyperparameters')
  with open(os.path.join(chosen, 'best_hyperparameters.txt')) as f:
    values = json.load(f)['values']
  assert values['output_layer'] == best['output_layer']
  assert (
    values['learn_rate'] == json.loads(best['hyperparameters'])['learn_rate']
  )

  # Both replicas trained the chosen configuration, with different seeds.
  trained = []
  for trainer in ('Trainer', 'Trainer_01'):
    run_dir = _only_dir(root, trainer, 'model_run')
    with open(os.path.join(run_dir, 'hparams.json')) as f:
      trained.append(json.load(f))
  for hparams in trained:
    assert hparams['output_layer'] == best['output_layer']
    assert hparams['learn_rate'] == values['learn_rate']
  # --vars names the run (run_group), so read the run it names.
  seeds = _trainer_seeds(options.with_vars())
  assert seeds == {'Trainer': 0, 'Trainer_01': 1}
  replicas = _only_dir(root, 'ReplicaReport', 'replica_report')
  with open(os.path.join(replicas, replica_report.REPLICAS_CSV)) as f:
    per_replica = list(csv.DictReader(f))
  assert [r['replica'] for r in per_replica] == ['0', '1']
  with open(os.path.join(replicas, replica_report.REPORT_CSV)) as f:
    summary = {r['metric']: r for r in csv.DictReader(f)}
  # The summary is computed from the per-replica rows: the replicas with a
  # defined AUC and their mean.
  aucs = [float(r['auc/true_top_1p']) for r in per_replica]
  finite = [a for a in aucs if not math.isnan(a)]
  auc = summary['auc/true_top_1p']
  assert int(auc['replicas']) == len(finite)
  if finite:
    assert float(auc['mean']) == pytest.approx(sum(finite) / len(finite))
  assert set(summary['count']) >= {'mean', 'std', 'min', 'max'}

  # The Evaluator judged the replicas' mean, not the first replica.
  evaluated = run_artifacts.latest_input(
    options.with_vars().metadata_path,
    configs.PIPELINE_NAME,
    'Evaluator',
    'model',
    'Model',
  )
  assert evaluated.uri.startswith(os.path.join(root, 'ReplicaMean'))
  sequences = ['ACGT' * 10, 'GGTGGATAG' + 'A' * 31]
  each = [
    scoring.ServedModel(
      os.path.join(_only_dir(root, trainer, 'model'), 'Format-Serving')
    ).predict_sequences(sequences)
    for trainer in ('Trainer', 'Trainer_01')
  ]
  mean = scoring.ServedModel(
    os.path.join(evaluated.uri, 'Format-Serving')
  ).predict_sequences(sequences)
  assert sorted(mean) == sorted(each[0])
  for output in mean:
    np.testing.assert_allclose(
      mean[output], (each[0][output] + each[1][output]) / 2, rtol=1e-5
    )


def _trainer_seeds(options):
  """Trainer node id -> the training seed in its executed custom_config."""
  assert os.path.exists(options.metadata_path), options.metadata_path
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(
      options.metadata_path
    )
  )
  seeds = {}
  for context in store.get_contexts_by_type('node'):
    node = context.name.split('.')[-1]
    if not node.startswith('Trainer'):
      continue
    for execution in store.get_executions_by_context(context.id):
      # Exec properties land in properties or custom_properties, by type.
      values = {**execution.custom_properties, **execution.properties}
      config = json.loads(values['custom_config'].string_value)
      seeds[node] = config[keys.TRAINING_KEY]['seed']
  return seeds
