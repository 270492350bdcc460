"""The training-stability rules, stability.json and where they are shown."""

import json
import math

import pytest

from components.config import training as training_lib
from components.training import stability

NAN = math.nan
DEFAULTS = training_lib.StabilityThresholds()

# The issue's run at a million sequences (manuscript preset): validation
# auc/true_top_1p 0.74 after epoch 2, 0.51 at epochs 7-9, 0.72 at epoch 19,
# 0.50 at epochs 27-29; the loss 0.95 -> 1.78 at epoch 7 and 1.49 at 29.
UNSTABLE_AUC = (
  [0.68, 0.74, 0.72, 0.71, 0.70, 0.66, 0.51, 0.51, 0.51, 0.66]
  + [0.67, 0.68, 0.68, 0.69, 0.70, 0.70, 0.71, 0.71, 0.72, 0.70]
  + [0.70, 0.69, 0.70, 0.69, 0.68, 0.67, 0.50, 0.50, 0.50]
)
UNSTABLE_LOSS = (
  [1.10, 1.02, 0.98, 0.96, 0.95, 1.05, 1.78, 1.40, 1.20, 1.05]
  + [1.01, 1.00, 0.99, 0.98, 0.98, 0.97, 0.97, 0.96, 0.96, 0.97]
  + [0.98, 0.99, 1.00, 1.02, 1.05, 1.10, 1.30, 1.35, 1.49]
)
# Epoch reports of real runs (mean rows, epochs 1-10; epoch 0 left out):
# the demo as `pipeline.local_runner` trains it, whose validation split is
# small enough that auc/true_top_1p dips 0.12 for one epoch twice while
# converging and whose loss creeps up; the `selex` scenario.
DEMO_AUC = [
  0.546,
  0.700,
  0.580,
  0.686,
  0.584,
  0.710,
  0.735,
  0.721,
  0.738,
  0.747,
]
DEMO_LOSS = [
  1.135,
  1.196,
  1.204,
  1.243,
  1.273,
  1.311,
  1.297,
  1.348,
  1.315,
  1.274,
]
DEMO_TRAINING_LOSS = [
  1.072,
  1.150,
  1.157,
  1.188,
  1.205,
  1.235,
  1.206,
  1.243,
  1.172,
  1.111,
]
SELEX_AUC = [
  0.728,
  0.719,
  0.733,
  0.730,
  0.709,
  0.713,
  0.733,
  0.712,
  0.684,
  0.757,
]
SELEX_LOSS = [
  1.172,
  1.169,
  1.150,
  1.180,
  1.163,
  1.181,
  1.200,
  1.184,
  1.203,
  1.241,
]
SMOOTH_AUC = [0.55 + 0.25 * (1 - math.exp(-e / 6)) for e in range(1, 31)]
SMOOTH_LOSS = [0.9 + 0.3 * math.exp(-e / 5) for e in range(1, 31)]


def _records(auc, loss, training_loss=None, pre=True):
  """Epoch-report records (EpochEvaluation.tables) of mean-row curves."""
  training_loss = training_loss or [NAN] * len(auc)
  records = []
  if pre:  # Untrained: never a reference.
    records.append(
      {
        'epoch': 0,
        'tables': {
          'training': {'mean': {'loss': 0.01}},
          'validation': {'mean': {'auc/true_top_1p': 0.99, 'loss': 0.01}},
        },
      }
    )
  for epoch, (a, v, t) in enumerate(zip(auc, loss, training_loss), 1):
    records.append(
      {
        'epoch': epoch,
        'tables': {
          'training': {'mean': {'loss': t}, 'out': {'loss': 9.0}},
          'validation': {
            'mean': {'auc/true_top_1p': a, 'loss': v},
            'out': {'auc/true_top_1p': 0.0, 'loss': 9.0},
          },
        },
      }
    )
  return records


def _history(auc, loss, training_loss=None):
  return stability.history_from_tables(_records(auc, loss, training_loss))


def _by_rule(findings):
  return {(f.rule, f.split): f for f in findings}


def test_the_issues_curve_is_flagged_at_the_right_epochs():
  findings = _by_rule(
    stability.check(_history(UNSTABLE_AUC, UNSTABLE_LOSS), DEFAULTS)
  )
  assert set(findings) == {
    (stability.METRIC_DROP, 'validation'),
    (stability.LOSS_SPIKE, 'validation'),
  }
  drop = findings[stability.METRIC_DROP, 'validation']
  assert drop.epochs == (7, 8, 9, 27, 28, 29)
  assert drop.reference == (2, 0.74)
  assert drop.worst[1] == 0.50 and drop.worst[0] in (27, 28, 29)
  assert drop.recovered is False
  assert drop.last == (29, 0.50)
  assert 'at epochs 7-9, 27-29' in drop.message
  assert 'not recovered by epoch 29' in drop.message
  spike = findings[stability.LOSS_SPIKE, 'validation']
  assert spike.epochs == (7, 29)
  assert spike.values == ((7, 1.78), (29, 1.49))
  assert spike.worst == (7, 1.78)
  assert spike.reference == (5, 0.95)
  assert '1.87x' in spike.message


def test_a_drop_the_run_recovers_from_says_so():
  auc = UNSTABLE_AUC[:20]
  (drop,) = stability.metric_drop(_history(auc, [1.0] * 20), 0.1, 2)
  assert drop.epochs == (7, 8, 9)
  assert drop.recovered is True
  assert 'recovered by epoch 20 (0.700)' in drop.message


@pytest.mark.parametrize(
  'auc, loss, training_loss',
  [
    (SMOOTH_AUC, SMOOTH_LOSS, SMOOTH_LOSS),
    (DEMO_AUC, DEMO_LOSS, DEMO_TRAINING_LOSS),
    (SELEX_AUC, SELEX_LOSS, None),
  ],
  ids=['smooth', 'demo', 'selex'],
)
def test_converging_curves_are_stable(auc, loss, training_loss):
  assert stability.check(_history(auc, loss, training_loss), DEFAULTS) == []


def test_single_epoch_dips_count_only_when_asked_to():
  # The demo's one-epoch dips (0.700 -> 0.580, 0.686 -> 0.584) exceed 0.1.
  (drop,) = stability.metric_drop(_history(DEMO_AUC, DEMO_LOSS), 0.1, 1)
  assert drop.epochs == (3, 5)
  assert drop.recovered is True


def test_nan_epochs_are_skipped():
  auc = list(UNSTABLE_AUC)
  loss = list(UNSTABLE_LOSS)
  auc[7] = NAN  # Epoch 8: neither a drop nor the end of one.
  auc[1] = NAN  # Epoch 2, the best: gone, so 0.72 (epoch 3) is the best.
  loss[4] = NAN  # Epoch 5, the lowest loss: 0.96 (epoch 4) is the lowest.
  loss[6] = NAN  # Epoch 7's spike.
  findings = _by_rule(stability.check(_history(auc, loss), DEFAULTS))
  drop = findings[stability.METRIC_DROP, 'validation']
  assert drop.epochs == (7, 9, 27, 28, 29)
  assert drop.reference == (3, 0.72)
  spike = findings[stability.LOSS_SPIKE, 'validation']
  assert spike.epochs == (29,)
  assert spike.reference == (4, 0.96)


def test_an_unevaluated_history_has_no_findings():
  history = _history([NAN] * 5, [NAN] * 5)
  assert stability.check(history, DEFAULTS) == []
  assert stability.check([], DEFAULTS) == []


def test_json_nulls_read_as_nan():
  record = json.loads(json.dumps(_records([None, 0.7], [1.0, None])[1:]))
  history = stability.history_from_tables(record)
  assert [h.epoch for h in history] == [1, 2]
  assert math.isnan(history[0].auc) and math.isnan(history[1].loss)
  assert math.isnan(history[0].training_loss)  # Training NaN, as given.


def test_the_pre_training_evaluation_is_never_a_reference():
  # Epoch 0 scores 0.99 AUC and 0.01 loss in `_records`.
  history = _history(SMOOTH_AUC, SMOOTH_LOSS)
  assert history[0].epoch == 1
  assert stability.check(history, DEFAULTS) == []


def test_a_training_loss_spike_is_its_own_finding():
  training_loss = list(SMOOTH_LOSS)
  training_loss[12] = 2.0 * min(training_loss[:12])
  findings = stability.check(
    _history(SMOOTH_AUC, SMOOTH_LOSS, training_loss), DEFAULTS
  )
  assert [(f.rule, f.split, f.epochs) for f in findings] == [
    (stability.LOSS_SPIKE, 'training', (13,))
  ]


def test_non_positive_losses_are_not_ratios():
  # Poisson losses can be negative: a ratio to a negative minimum is
  # meaningless, so it never fires; once the minimum is positive it does.
  history = _history([0.7] * 4, [-0.5, -0.6, 0.4, 0.3])
  assert stability.loss_spike(history, 1.5) == []
  history = _history([0.7] * 4, [0.2, 0.1, 0.4, 0.12])
  assert stability.loss_spike(history, 1.5)[0].epochs == (3,)


def test_thresholds_change_what_is_flagged():
  history = _history(UNSTABLE_AUC, UNSTABLE_LOSS)
  loose = training_lib.StabilityThresholds(
    auc_drop=0.3, auc_epochs=2, loss_factor=2.0
  )
  assert stability.check(history, loose) == []
  strict = training_lib.StabilityThresholds(auc_epochs=4)
  assert [f.rule for f in stability.check(history, strict)] == [
    stability.LOSS_SPIKE
  ]


def test_alerts_come_at_the_epoch_a_rule_fires():
  history = _history(UNSTABLE_AUC, UNSTABLE_LOSS)
  alerts = {
    epoch: stability.alerts_at(history, DEFAULTS, epoch)
    for epoch in range(1, 30)
  }
  flagged = {epoch for epoch, lines in alerts.items() if lines}
  # Spikes at 7 and 29; the drops once they last 2 epochs (8-9, 28-29).
  assert flagged == {7, 8, 9, 28, 29}
  assert len(alerts[29]) == 2
  assert alerts[7] == [
    'epoch 7: UNSTABLE: validation loss 1.780 is 1.87x its lowest earlier '
    'value 0.950 (epoch 5) (limit 1.5x)'
  ]
  assert alerts[8][0].startswith(
    'epoch 8: UNSTABLE: validation auc/true_top_1p 0.510 is 0.230 below its '
    'best 0.740 (epoch 2) for 2 epochs'
  )
  quiet = _history(DEMO_AUC, DEMO_LOSS, DEMO_TRAINING_LOSS)
  assert not any(stability.alerts_at(quiet, DEFAULTS, e) for e in range(11))


@pytest.mark.parametrize(
  'kwargs, message',
  [
    ({'auc_drop': 0}, '--stability_auc_drop must be in \\(0, 1\\), got 0'),
    ({'auc_drop': 1.0}, '--stability_auc_drop must be in'),
    ({'auc_drop': NAN}, '--stability_auc_drop must be in'),
    ({'auc_epochs': 0}, '--stability_auc_epochs must be at least 1, got 0'),
    ({'loss_factor': 1.0}, '--stability_loss_factor must be > 1, got 1.0'),
    ({'loss_factor': NAN}, '--stability_loss_factor must be > 1'),
  ],
)
def test_thresholds_are_validated_naming_the_flag(kwargs, message):
  with pytest.raises(ValueError, match=message):
    training_lib.StabilityThresholds(**kwargs)
  flagged = {f'stability_{k}': v for k, v in kwargs.items()}
  with pytest.raises(ValueError, match=message):
    training_lib.TrainingConfig(**flagged)


def test_thresholds_travel_in_the_training_config():
  config = training_lib.TrainingConfig.from_dict(
    {'stability_auc_drop': '0.2', 'stability_loss_factor': 3}
  )
  assert config.stability_thresholds() == training_lib.StabilityThresholds(
    auc_drop=0.2, auc_epochs=2, loss_factor=3.0
  )
  assert isinstance(config.stability_loss_factor, float)
  assert training_lib.TrainingConfig.from_dict(config.as_dict()) == config


def test_the_stability_flags_reach_the_training_config():
  from pipeline import run_options

  options = run_options.RunOptions(
    stability_auc_drop=0.25, stability_auc_epochs=3, stability_loss_factor=2.5
  )
  assert run_options.training(
    options
  ).stability_thresholds() == training_lib.StabilityThresholds(0.25, 3, 2.5)
  with pytest.raises(ValueError, match='--stability_auc_epochs'):
    run_options.training(run_options.RunOptions(stability_auc_epochs=0))


def test_the_trainer_writes_stability_json_and_warns(tmp_path):
  from components.training import trainer

  model_run = tmp_path / 'not_yet' / 'model_run'
  printed = []
  record = trainer.write_stability(
    str(model_run),
    _records(UNSTABLE_AUC, UNSTABLE_LOSS),
    DEFAULTS,
    print_fn=printed.append,
  )
  path = model_run / stability.STABILITY_FILENAME
  with open(path) as f:
    written = json.load(f)
  assert written == record
  assert written['stable'] is False
  assert written['epochs_evaluated'] == 29
  assert written['thresholds'] == {
    'auc_drop': 0.1,
    'auc_epochs': 2,
    'loss_factor': 1.5,
  }
  assert [(f['rule'], f['epochs']) for f in written['findings']] == [
    (stability.METRIC_DROP, [7, 8, 9, 27, 28, 29]),
    (stability.LOSS_SPIKE, [7, 29]),
  ]
  (block,) = printed
  assert 'WARNING: training was unstable (2 findings):' in block
  assert f'Details: {path}' in block

  printed.clear()
  stable_run = tmp_path / 'stable'
  record = trainer.write_stability(
    str(stable_run),
    _records(DEMO_AUC, DEMO_LOSS, DEMO_TRAINING_LOSS),
    DEFAULTS,
    print_fn=printed.append,
  )
  assert record['stable'] is True and record['findings'] == []
  assert (stable_run / stability.STABILITY_FILENAME).exists()
  assert printed == []


def _model_runs(tmp_path):
  from components.training import trainer

  runs = {}
  for node_id, auc, loss in (
    ('Trainer', DEMO_AUC, DEMO_LOSS),
    ('Trainer_01', UNSTABLE_AUC, UNSTABLE_LOSS),
  ):
    runs[node_id] = str(tmp_path / node_id)
    trainer.write_stability(
      runs[node_id], _records(auc, loss), DEFAULTS, print_fn=lambda _: None
    )
  runs['Trainer_02'] = str(tmp_path / 'older_run')  # No stability.json.
  return runs


def test_the_run_report_shows_each_trainers_stability(tmp_path):
  from tools import report

  page = report.stability_html(_model_runs(tmp_path))
  items = page.split('<li><b>')[1:]
  assert items[0].startswith('Trainer</b>: stable (over 10 epochs;')
  assert items[1].startswith('Trainer_01</b>: <span class="unstable">')
  assert 'at epochs 7-9, 27-29' in items[1]
  assert 'validation loss spiked to 1.780 at epoch 7' in items[1]
  assert items[2].startswith('Trainer_02</b>: not recorded')
  assert report.stability_html({}) == '<p>No Trainer output.</p>'


def test_the_end_of_run_summary_names_only_unstable_trainers(tmp_path):
  from pipeline import local_runner

  runs = _model_runs(tmp_path)
  (line,) = local_runner.stability_lines(runs)
  assert line == (
    '  UNSTABLE training:  Trainer_01: validation auc/true_top_1p drop at '
    'epochs 7-9, 27-29; validation loss spike at epochs 7, 29 (see '
    f'{tmp_path / "Trainer_01" / stability.STABILITY_FILENAME})'
  )
