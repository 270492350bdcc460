"""End-to-end: `make demo`, from the bundled recipe's reads to designs."""

import contextlib
import io
import os

import pytest

from components.data.fastq_example_gen import executor as fastq_executor
from pipeline import configs
from pipeline import local_runner
from pipeline import simulated_datasets
from tools import truth_scoring


@pytest.mark.e2e
def test_the_demo_runs_from_simulated_reads_to_judged_designs(tmp_path):
  # The Makefile's demo: --dataset=demo_reads --run_name=demo.
  options = local_runner.RunOptions(
    save_base=str(tmp_path), dataset='demo_reads', run_name='demo'
  )
  console = io.StringIO()
  with contextlib.redirect_stdout(console):
    local_runner.run(options)
  text = console.getvalue()

  # The reads were simulated and matched the recipe (else the run stops).
  made = local_runner.resolve_input_dir(options)
  recipe = simulated_datasets.Recipe.load(configs.DATASETS['demo_reads'].recipe)
  assert "Simulating the bundled dataset 'demo_reads'" in text
  assert sorted(simulated_datasets.hash_files(made)) == sorted(recipe.files)
  # It shares the counted demo's truth, so both demos are judged alike.
  demo = configs.DATASETS['demo'].input_dir
  for name in ('ground_truth.csv.gz', 'truth_model.json'):
    assert recipe.files[name] == simulated_datasets.content_sha256(
      os.path.join(demo, name)
    )

  examples = local_runner.latest_artifact(
    options, 'Examples', configs.FASTQ_EXAMPLE_GEN
  )
  assert examples is not None
  statistics = fastq_executor.read_statistics(examples.uri)
  assert statistics['total']['pass_fraction'] > 0.95
  assert local_runner.latest_blessing(options) is True
  pushed = local_runner.latest_pushed_model(options)
  assert pushed

  scores = truth_scoring.score_run(
    options.run_dir, dataset_dir=made, model_dir=pushed
  )
  target = next(s for s in scores.scores if s.molecule == 'target')
  # Chance is 0.5. With k-mer counts as inputs the default model reaches
  # about 0.99 (0.992 from reads); with the one-hot alone it reached 0.86.
  assert target.auc_true_top_1p > 0.95
  assert 'Designs against the simulator' in text
  assert 'oracle efficiency' in text

  # A second run reuses the made dataset.
  again = io.StringIO()
  with contextlib.redirect_stdout(again):
    local_runner.make_simulated_dataset(options)
  assert again.getvalue() == ''
