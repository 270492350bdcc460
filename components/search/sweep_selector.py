"""SweepSelector: the fan-in that picks the best configuration of a sweep.

One Tuner runs per meta-parameter combination; this component reads all of
their results and writes (1) the best configuration's hyper-parameters,
meta-parameters included, in the Tuner's `best_hyperparameters.txt` format so
the Trainer consumes it like a Tuner output, and (2) a sweep report: one row
per trial (combination, hyper-parameters, objective, status) as CSV and
Markdown, sorted best first, plus the best trial per combination.

KubeflowV2DagRunner rejects union channels, so the component spec is
generated with one named input per Tuner (`best_hyperparameters_<i>`,
`tuner_results_<i>`, see `fan_in`): the compiled DAG has an edge from every
Tuner.
"""

import json
import math
import os
from typing import Any
from typing import Dict
from typing import List

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.config import keys
from components.evaluation import report_tables
from components.search import fan_in

COMBINATIONS_KEY = 'combinations'
DIRECTION_KEY = 'direction'
REPORT_CSV = 'sweep_report.csv'
REPORT_MD = 'sweep_report.md'
BEST_PER_COMBINATION_CSV = 'best_per_combination.csv'


class SweepReport(types.Artifact):
  """Tables of every trial of a sweep (CSV and Markdown)."""

  TYPE_NAME = 'components.SweepReport'  # See components/__init__.py.


def _read_json(path, default):
  if not fileio.exists(path):
    return default
  return json.loads(io_utils.read_string_file(path))


def _objective(value) -> float:
  return float('nan') if value is None else float(value)


def collect_rows(
  combinations: List[Dict[str, Any]], results_dirs: List[str]
) -> List[Dict[str, Any]]:
  """One row per trial, across every combination's Tuner results."""
  rows = []
  for index, (meta, results_dir) in enumerate(
    zip(combinations, results_dirs, strict=True)
  ):
    trials = _read_json(os.path.join(results_dir, keys.TRIALS_FILENAME), None)
    if trials is None:  # A stock Tuner: completed trials only.
      trials = [
        {
          'trial_id': r.pop('trial_id'),
          'status': 'COMPLETED',
          'score': r.pop('score'),
          'message': '',
          'values': r,
        }
        for r in _read_json(os.path.join(results_dir, 'tuner_results.json'), [])
      ]
    for trial in trials:
      values = {k: v for k, v in trial['values'].items() if k not in meta}
      rows.append(
        {
          'combination': index,
          **meta,
          'trial_id': trial['trial_id'],
          'status': trial['status'],
          'objective': _objective(trial['score']),
          'message': trial.get('message', ''),
          'hyperparameters': json.dumps(values, sort_keys=True),
        }
      )
  return rows


def sort_rows(rows: List[Dict[str, Any]], direction: str) -> List[Dict]:
  """Completed trials best first; failed or NaN trials last."""
  sign = -1.0 if direction == 'max' else 1.0

  def key(row):
    bad = row['status'] != 'COMPLETED' or math.isnan(row['objective'])
    return (bad, 0.0 if bad else sign * row['objective'])

  return sorted(rows, key=key)


def best_per_combination(rows: List[Dict[str, Any]]) -> List[Dict]:
  """The first (best) row of each combination, from sorted rows."""
  seen, best = set(), []
  for row in rows:
    if row['combination'] not in seen:
      seen.add(row['combination'])
      best.append(row)
  return best


to_csv = report_tables.to_csv


def to_markdown(rows: List[Dict[str, Any]], title: str) -> str:
  return f'## {title}\n\n' + report_tables.to_markdown(rows)


class Executor(base_executor.BaseExecutor):
  """Reads every Tuner's trials, writes the best configuration and reports."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    combinations = json.loads(exec_properties[COMBINATIONS_KEY])
    direction = exec_properties[DIRECTION_KEY]
    results_dirs = [
      artifact_utils.get_single_uri(input_dict[f'tuner_results_{i}'])
      for i in range(len(combinations))
    ]
    rows = sort_rows(collect_rows(combinations, results_dirs), direction)
    best_rows = best_per_combination(rows)
    report_dir = artifact_utils.get_single_uri(output_dict['sweep_report'])
    io_utils.write_string_file(
      os.path.join(report_dir, REPORT_CSV), to_csv(rows)
    )
    io_utils.write_string_file(
      os.path.join(report_dir, BEST_PER_COMBINATION_CSV), to_csv(best_rows)
    )
    io_utils.write_string_file(
      os.path.join(report_dir, REPORT_MD),
      f'# Sweep report ({len(rows)} trials, {len(combinations)} '
      f'combinations, objective {direction}imised)\n\n'
      + to_markdown(best_rows, 'Best trial per combination')
      + '\n'
      + to_markdown(rows, 'All trials'),
    )
    if not rows or best_rows[0]['status'] != 'COMPLETED':
      raise RuntimeError(
        f'no trial of the sweep completed ({len(rows)} trials); see '
        f'{os.path.join(report_dir, REPORT_MD)}'
      )
    winner = best_rows[0]['combination']
    source = artifact_utils.get_single_uri(
      input_dict[f'best_hyperparameters_{winner}']
    )
    config = json.loads(
      io_utils.read_string_file(
        os.path.join(source, keys.BEST_HPARAMS_FILENAME)
      )
    )
    # The Trainer must also learn which meta-parameters won.
    config['values'].update(combinations[winner])
    io_utils.write_string_file(
      os.path.join(
        artifact_utils.get_single_uri(output_dict['best_hyperparameters']),
        keys.BEST_HPARAMS_FILENAME,
      ),
      json.dumps(config),
    )
    print(
      f'Sweep: best of {len(rows)} trials is combination {winner} '
      f'{combinations[winner]} with objective {best_rows[0]["objective"]:.4f}'
    )


def make_sweep_selector(
  best_hyperparameters: List[types.BaseChannel],
  tuner_results: List[types.BaseChannel],
  combinations: List[Dict[str, Any]],
  direction: str,
) -> base_component.BaseComponent:
  """A SweepSelector wired to one Tuner per combination.

  Args:
    best_hyperparameters: each Tuner's `best_hyperparameters` channel.
    tuner_results: each Tuner's `tuner_results` channel, same order.
    combinations: each Tuner's meta-parameters, same order.
    direction: 'max' or 'min', how the Tuner objective improves.

  Returns:
    The component; outputs `best_hyperparameters` and `sweep_report`.
  """
  if len(combinations) != len(tuner_results):
    raise ValueError('one combination per Tuner is needed')
  if direction not in ('max', 'min'):
    raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
  return fan_in.make_fan_in_component(
    'SweepSelector',
    Executor,
    inputs={
      'best_hyperparameters': best_hyperparameters,
      'tuner_results': tuner_results,
    },
    outputs={
      'best_hyperparameters': standard_artifacts.HyperParameters,
      'sweep_report': SweepReport,
    },
    parameters={
      COMBINATIONS_KEY: json.dumps(combinations),
      DIRECTION_KEY: direction,
    },
  )
