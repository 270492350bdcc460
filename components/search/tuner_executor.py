"""Tuner executor that records every trial, failed ones included.

The stock executor writes only completed trials to `tuner_results.json` and
fails when no trial completed. A sweep needs the whole story: each trial's
status, objective and hyper-parameters (`trials.json` beside the stock
file), and a combination whose trials all failed must not stop the other
combinations, so its best hyper-parameters are written empty instead.
"""

import json
import os
from typing import Any
from typing import Dict
from typing import List

from absl import logging
from tfx import types
from tfx import v1 as tfx
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils

from components.config import keys


def trial_records(tuner) -> List[Dict[str, Any]]:
  """One record per trial: id, status, score, message, values."""
  records = []
  for trial_id, trial in sorted(tuner.oracle.trials.items()):
    # The last line of a failure's traceback says what went wrong.
    lines = (trial.message or '').strip().splitlines()
    records.append(
      {
        'trial_id': trial_id,
        'status': str(trial.status),
        'score': trial.score,
        'message': lines[-1] if lines else '',
        'values': dict(trial.hyperparameters.values),
      }
    )
  return records


class Executor(tuner_executor.Executor):
  """The stock Tuner executor plus `trials.json`, tolerant of no result."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    if tuner_executor.get_tune_args(exec_properties):
      raise ValueError("TuneArgs is not supported by this Tuner's Executor.")
    tuner = tuner_executor.search(
      input_dict, exec_properties, self._get_tmp_dir()
    )
    records = trial_records(tuner)
    results_dir = artifact_utils.get_single_uri(
      output_dict[standard_component_specs.TUNER_RESULTS_KEY]
    )
    io_utils.write_string_file(
      os.path.join(results_dir, keys.TRIALS_FILENAME), json.dumps(records)
    )
    if any(r['status'] == 'COMPLETED' for r in records):
      tuner_executor.write_best_hyperparameters(tuner, output_dict)
      return
    logging.warning('No trial completed: %s', records)
    best_dir = artifact_utils.get_single_uri(
      output_dict[standard_component_specs.BEST_HYPERPARAMETERS_KEY]
    )
    io_utils.write_string_file(
      os.path.join(best_dir, keys.BEST_HPARAMS_FILENAME),
      json.dumps({'space': [], 'values': {}}),
    )
    io_utils.write_string_file(
      os.path.join(results_dir, 'tuner_results.json'), '[]'
    )


class AptamerTuner(tfx.components.Tuner):
  """The TFX Tuner with the recording executor above."""

  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
