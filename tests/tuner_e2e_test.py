"""The Tuner searches, and the Trainer trains what it found."""

import json
import os

import handmade_data
import pytest

from pipeline import local_runner


@pytest.mark.e2e
def test_search_then_train_with_the_best_hyperparameters(tmp_path):
  data = handmade_data.write_dataset(str(tmp_path / 'data'))
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='tuned',
    input_dir=data,
    epochs=1,
    design=False,
    num_conv_layers=1,
    num_fc_layers=1,
    tuner_trials=2,
    tuner_loss='loss',
    min_auc_true_top_1p=0.0,
    eval_size=20,  # Of 164 training and 36 validation examples.
  )
  local_runner.run(options)
  tuner_dir = os.path.join(options.pipeline_root, 'Tuner')
  [best_dir] = os.listdir(os.path.join(tuner_dir, 'best_hyperparameters'))
  with open(
    os.path.join(
      tuner_dir, 'best_hyperparameters', best_dir, 'best_hyperparameters.txt'
    )
  ) as f:
    best = json.load(f)['values']
  assert best['num_conv_layers'] == 1 and best['num_fc_layers'] == 1
  assert 1e-4 <= best['learn_rate'] <= 1e-2
  [results_dir] = os.listdir(os.path.join(tuner_dir, 'tuner_results'))
  with open(
    os.path.join(tuner_dir, 'tuner_results', results_dir, 'tuner_results.json')
  ) as f:
    trials = json.load(f)
  assert len(trials) == 2
  # The Trainer trained exactly the best configuration.
  [run_dir] = os.listdir(
    os.path.join(options.pipeline_root, 'Trainer', 'model_run')
  )
  with open(
    os.path.join(
      options.pipeline_root, 'Trainer', 'model_run', run_dir, 'hparams.json'
    )
  ) as f:
    trained = json.load(f)
  assert trained['learn_rate'] == best['learn_rate']
  assert trained['momentum'] == best['momentum']
  assert trained['nonlinearity'] == best['nonlinearity']
  assert trained['fc_hid_sizes'] == [best['fc_hid_size_0']]
  assert trained['dropouts'] == [best['dropout_0'], best['dropout_1']]
  assert trained['conv_depths'] == [best['conv_depth_0']]
  # Each report scored a new 20-example sample of both splits.
  with open(
    os.path.join(
      options.pipeline_root,
      'Trainer',
      'model_run',
      run_dir,
      'epoch_report.jsonl',
    )
  ) as f:
    records = [json.loads(line) for line in f]
  assert [r['epoch'] for r in records] == [0, 1]
  for record in records:
    for name in ('training', 'validation'):
      table = record['tables'][name]
      counts = {o: row['count'] for o, row in table.items() if o != 'mean'}
      assert set(counts.values()) == {20}, (name, counts)
