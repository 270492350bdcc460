"""Meta-parameter combinations and the SweepSelector's tables."""

import json
import math

import pytest

from components.config import keys
from components.config import sweep
from components.search import sweep_selector


def test_default_grid_has_40_combinations_with_matching_normalisers():
  grid = sweep.grid()
  assert len(grid) == 40
  assert len(set(grid)) == 40  # All distinct.
  for c in grid:
    assert c.loss_norm == sweep.DEFAULT_LOSS_NORM[c.loss_name]


def test_invalid_combinations_are_rejected():
  with pytest.raises(ValueError, match='output_layer must be one of'):
    sweep.MetaCombination(1, 0, 'DENSE', 'SQUARED_ERROR', 'STANDARDIZE')
  with pytest.raises(ValueError, match='POISSON_LOSS needs loss_norm=SKIP'):
    sweep.MetaCombination(1, 0, 'LATENT_AFFINITY', 'POISSON_LOSS', 'BINARIZE')


def _write_trials(directory, trials):
  directory.mkdir()
  (directory / keys.TRIALS_FILENAME).write_text(json.dumps(trials))
  return str(directory)


def test_rows_sorted_best_first_with_failures_last(tmp_path):
  combos = [
    {'output_layer': 'LATENT_AFFINITY', 'num_fc_layers': 0},
    {'output_layer': 'FULLY_OBSERVED', 'num_fc_layers': 0},
  ]
  dirs = [
    _write_trials(
      tmp_path / 'a',
      [
        {
          'trial_id': '0',
          'status': 'COMPLETED',
          'score': 0.7,
          'values': {'learn_rate': 0.01, 'output_layer': 'LATENT_AFFINITY'},
        },
        {
          'trial_id': '1',
          'status': 'FAILED',
          'score': None,
          'message': 'infeasible: conv layer 0',
          'values': {},
        },
      ],
    ),
    _write_trials(
      tmp_path / 'b',
      [{'trial_id': '0', 'status': 'COMPLETED', 'score': 0.9, 'values': {}}],
    ),
  ]
  rows = sweep_selector.collect_rows(combos, dirs)
  assert len(rows) == 3
  best_first = sweep_selector.sort_rows(rows, 'max')
  assert [r['objective'] for r in best_first[:2]] == [0.9, 0.7]
  assert best_first[-1]['status'] == 'FAILED'
  assert math.isnan(best_first[-1]['objective'])
  assert best_first[-1]['message'] == 'infeasible: conv layer 0'
  # Meta-parameters are columns, not repeated in the hyper-parameters.
  assert json.loads(best_first[1]['hyperparameters']) == {'learn_rate': 0.01}
  lowest_first = sweep_selector.sort_rows(rows, 'min')
  assert lowest_first[0]['objective'] == 0.7
  per_combination = sweep_selector.best_per_combination(best_first)
  assert [r['combination'] for r in per_combination] == [1, 0]
  markdown = sweep_selector.to_markdown(best_first, 'All trials')
  assert markdown.count('\n|') == 5  # Header, rule and 3 rows.
