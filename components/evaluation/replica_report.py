"""ReplicaReport: training variance over replicas of one configuration.

The playbook's last step retrains the chosen hyper-parameters N times with
different seeds and looks at the spread. This fan-in reads each replica
Trainer's per-epoch report, takes the validation mean row of the epoch each
replica exported (its best epoch, else its last), and writes per-metric
mean, standard deviation (ddof=1), min and max as CSV and Markdown.
"""

import json
import os
from typing import Any
from typing import Dict
from typing import List

import numpy as np
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.config import keys
from components.evaluation import rank_metrics
from components.evaluation import report_tables
from components.search import fan_in
from components.training import epoch_evaluation

REPORT_CSV = 'replica_report.csv'
REPORT_MD = 'replica_report.md'
REPLICAS_CSV = 'replicas.csv'


class ReplicaReport(types.Artifact):
  """Validation metrics of every replica and their spread."""

  TYPE_NAME = 'components.ReplicaReport'  # See components/__init__.py.


def exported_validation_row(model_run_dir: str) -> Dict[str, Any]:
  """The validation mean row of the epoch a Trainer exported."""
  text = io_utils.read_string_file(
    os.path.join(model_run_dir, keys.EPOCH_REPORT_FILENAME)
  )
  records = [json.loads(line) for line in text.splitlines() if line.strip()]
  best = json.loads(
    io_utils.read_string_file(
      os.path.join(model_run_dir, keys.BEST_EPOCH_FILENAME)
    )
  )
  epoch = best['best_epoch'] or records[-1]['epoch']
  [record] = [r for r in records if r['epoch'] == epoch]
  row = record['tables']['validation'][rank_metrics.MEAN_ROW]
  return {'epoch': epoch, **{k: _float(v) for k, v in row.items()}}


def _float(value) -> float:
  return float('nan') if value is None else float(value)


def summarize(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
  """mean, std (ddof=1), min and max of each metric over replicas."""
  out = []
  for metric in ('loss',) + rank_metrics.OUTPUT_KEYS:
    values = np.array([r.get(metric, np.nan) for r in rows], np.float64)
    finite = values[~np.isnan(values)]
    out.append(
      {
        'metric': metric,
        'replicas': len(finite),
        'mean': float(finite.mean()) if len(finite) else float('nan'),
        'std': float(finite.std(ddof=1)) if len(finite) > 1 else float('nan'),
        'min': float(finite.min()) if len(finite) else float('nan'),
        'max': float(finite.max()) if len(finite) else float('nan'),
      }
    )
  return out


class Executor(base_executor.BaseExecutor):
  """Reads every replica's model run, writes the variance report."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    del exec_properties
    rows = []
    for i in range(fan_in.branch_count(input_dict, 'model_run')):
      run_dir = artifact_utils.get_single_uri(input_dict[f'model_run_{i}'])
      rows.append({'replica': i, **exported_validation_row(run_dir)})
    summary = summarize(rows)
    out_dir = artifact_utils.get_single_uri(output_dict['replica_report'])
    io_utils.write_string_file(
      os.path.join(out_dir, REPLICAS_CSV), report_tables.to_csv(rows)
    )
    io_utils.write_string_file(
      os.path.join(out_dir, REPORT_CSV), report_tables.to_csv(summary)
    )
    io_utils.write_string_file(
      os.path.join(out_dir, REPORT_MD),
      f'# Replica report ({len(rows)} replicas, validation mean over '
      'outputs at each exported epoch)\n\n'
      + report_tables.to_markdown(summary)
      + '\n## Replicas\n\n'
      + report_tables.to_markdown(
        [
          {
            k: r[k]
            for k in ('replica', 'epoch', *epoch_evaluation.LOGGED_METRICS)
          }
          for r in rows
        ]
      ),
    )
    print(io_utils.read_string_file(os.path.join(out_dir, REPORT_MD)))


def make_replica_report(
  model_runs: List[types.BaseChannel],
) -> base_component.BaseComponent:
  """A ReplicaReport over each replica Trainer's `model_run` channel."""
  return fan_in.make_fan_in_component(
    'ReplicaReport',
    Executor,
    inputs={'model_run': model_runs},
    outputs={'replica_report': ReplicaReport},
    parameters={},
  )
