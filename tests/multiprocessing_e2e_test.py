"""The pipeline with Beam stages in separate worker processes.

`--direct_running_mode=multi_processing --direct_num_workers=2` runs every
Beam stage (ExampleGen, StatisticsGen, DataContractCheck, Transform,
Evaluator) in worker processes, so everything they use must pickle and
import there, as on Dataflow, Flink or Spark.
"""

import os

import handmade_data
import pytest

from pipeline import beam_runners
from pipeline import local_runner


@pytest.mark.e2e
def test_pipeline_runs_with_two_beam_worker_processes(tmp_path):
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='mp',
    input_dir=handmade_data.write_dataset(str(tmp_path / 'data')),
    epochs=1,
    num_conv_layers=0,
    min_auc_true_top_1p=0.0,
    beam_mode='multi_processing',
    beam_num_workers=2,
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
  # The Evaluator's Beam job finished and decided (random data: either way).
  assert local_runner.latest_blessing(options) in (True, False)
