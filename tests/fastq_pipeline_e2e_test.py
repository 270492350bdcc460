"""End-to-end: from simulated FASTQ reads to a blessed model in one command."""

import os

import pytest

from components.data.fastq_example_gen import executor as fastq_executor
from pipeline import configs
from pipeline import local_runner
from simulation import fastq_dataset
from simulation import scenarios
from simulation import simulator
from simulation import writer


@pytest.mark.e2e
def test_a_fastq_dataset_runs_from_reads_to_a_pushed_model(tmp_path):
  result = simulator.simulate(
    scenarios.configure('demo', num_families=400, depth=4000)
  )
  data = fastq_dataset.write_fastq_dataset(result, str(tmp_path / 'reads'))
  writer.write_truth_files(result, data)
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='reads',
    input_dir=data,
    epochs=1,
    min_auc_true_top_1p=0.0,
    min_affinity_auc=0.0,
    min_affinity_spearman=-1.0,
    design=False,
  )
  local_runner.run(options)
  examples = local_runner.latest_artifact(
    options, 'Examples', configs.FASTQ_EXAMPLE_GEN
  )
  assert examples is not None
  assert (
    local_runner.latest_artifact(
      options, 'Examples', configs.IMPORT_EXAMPLE_GEN
    )
    is None
  )
  statistics = fastq_executor.read_statistics(examples.uri)
  # One row per pool's file pair; most simulated reads pass the filters.
  assert len(statistics['files']) == len(result.count_names)
  assert sorted(statistics['read_names']) == sorted(result.count_names)
  assert statistics['total']['pass_fraction'] > 0.9
  assert local_runner.latest_blessing(options) is True
  assert local_runner.latest_pushed_model(options)
  with open(os.path.join(data, 'experiment.pbtxt')) as f:
    assert 'fastq_forward_path' in f.read()
