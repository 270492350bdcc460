"""The pipeline with Beam stages in separate worker processes.

`--direct_running_mode=multi_processing --direct_num_workers=2` runs every
Beam stage (ExampleGen, StatisticsGen, DataContractCheck, Transform,
Evaluator) in worker processes, so everything they use must pickle and
import there, as on Dataflow, Flink or Spark. The Trainer runs as for a
dataset larger than memory: no training cache, so its epoch reports stream
their samples from disk.
"""

import glob
import json
import os

import handmade_data
import pytest

from pipeline import beam_runners
from pipeline import local_runner


@pytest.mark.e2e
def test_pipeline_runs_with_two_beam_worker_processes(tmp_path):
  options = handmade_data.small_run_options(
    tmp_path,
    'mp',
    # Unreachable, so the decision is known: the Evaluator's Beam job must
    # compute the metric in the workers and refuse the blessing.
    min_auc_true_top_1p=1.01,
    beam_mode='multi_processing',
    beam_num_workers=2,
    # As for a dataset larger than memory: the epoch reports stream their
    # samples from disk (ShuffledQueue) instead of holding the splits.
    cache_training_data=False,
    eval_size=25,
  )
  assert local_runner.local_beam_args(options) == [
    '--direct_running_mode=multi_processing',
    '--direct_num_workers=2',
    f'--setup_file={beam_runners.SETUP_FILE}',
  ]
  local_runner.run(options)
  for component in ('DataContractCheck', 'Transform', 'Trainer', 'Evaluator'):
    path = os.path.join(
      options.pipeline_root, component, '.system', 'executor_execution'
    )
    assert len(os.listdir(path)) == 1, component
  [report] = glob.glob(
    os.path.join(
      options.pipeline_root, 'Trainer', '*', '*', 'epoch_report.jsonl'
    )
  )
  with open(report) as f:
    evaluations = [json.loads(line) for line in f]
  assert len(evaluations) == 2  # Before training and after the epoch.
  for evaluation in evaluations:
    outputs = evaluation['tables']['training']
    # Each output's row counts the examples with a label: all 25 drawn.
    assert {t['count'] for n, t in outputs.items() if n != 'mean'} == {25}
  assert local_runner.latest_blessing(options) is False
  assert local_runner.latest_pushed_model(options) is None
