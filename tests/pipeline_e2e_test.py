"""End-to-end: `make demo`, from the bundled recipe's reads to designs.

The session fixture `demo_runs` (tests/demo_runs.py) runs LocalDagRunner
three times in one directory and records what each run left: a first run,
the Makefile's demo, that simulates the reads, counts them, trains, blesses,
pushes and designs; an identical second run served from the cache; a third
with an impossible blessing threshold, which must not push. Each test
asserts on that record, so the tests do not depend on the order they run
in.
"""

import os
import re

import demo_runs
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

from components.config import keys
from components.data.fastq_example_gen import executor as fastq_executor
from components.evaluation import validation_messages
from pipeline import configs
from pipeline import local_runner
from pipeline import simulated_datasets
from schema import experiment as experiment_lib
from tools import truth_scoring

COMPONENTS = demo_runs.COMPONENTS
CACHEABLE = demo_runs.CACHEABLE


@pytest.fixture
def runs(demo_runs):
  return demo_runs


@pytest.mark.e2e
def test_first_run_trains_blesses_and_pushes(runs):
  first = runs['first']
  assert first.executions == {c: 1 for c in COMPONENTS}
  assert first.blessed is True
  assert len(first.pushed) == 1
  pushed = first.latest_pushed
  assert pushed and os.path.exists(os.path.join(pushed, 'saved_model.pb'))
  assert runs['options'].pipeline_root in first.console
  assert pushed in first.console
  assert 'ROC-AUC(true top 1%)' in first.console


@pytest.mark.e2e
def test_the_demo_starts_from_the_recipe_s_simulated_reads(runs):
  options = runs['options']
  # The reads were simulated and matched the recipe (else the run stops).
  made = local_runner.resolve_input_dir(options)
  recipe = simulated_datasets.Recipe.load(configs.DATASETS['demo_reads'].recipe)
  assert "Simulating the bundled dataset 'demo_reads'" in runs['first'].console
  assert sorted(simulated_datasets.hash_files(made)) == sorted(recipe.files)
  # It shares the counted demo's truth, so both demos are judged alike.
  demo = configs.DATASETS['demo'].input_dir
  for name in ('ground_truth.csv.gz', 'truth_model.json'):
    assert recipe.files[name] == simulated_datasets.content_sha256(
      os.path.join(demo, name)
    )
  experiment_path = os.path.join(made, 'experiment.pbtxt')
  with open(experiment_path) as f:
    assert 'fastq_forward_path' in f.read()
  # FastqExampleGen counted them; no ImportExampleGen ran.
  examples = local_runner.latest_artifact(
    options, 'Examples', demo_runs.EXAMPLE_GEN
  )
  assert not local_runner.latest_artifact(
    options, 'Examples', configs.IMPORT_EXAMPLE_GEN
  )
  statistics = fastq_executor.read_statistics(examples.uri)
  # One row per pool's file pair; nearly all simulated reads pass the QC.
  reads = experiment_lib.all_count_names(
    experiment_lib.load_experiment(experiment_path)
  )
  assert len(statistics['files']) == len(reads)
  assert sorted(statistics['read_names']) == sorted(reads)
  assert statistics['total']['pass_fraction'] > 0.95
  # The next runs reuse the made dataset.
  assert 'Simulating the bundled dataset' not in runs['second'].console


@pytest.mark.e2e
def test_pushed_model_recovers_true_binders(runs):
  options = runs['options']
  examples = local_runner.held_out_examples(options)
  truth = os.path.join(
    local_runner.resolve_input_dir(options), truth_scoring.TRUTH_FILENAME
  )
  score = truth_scoring.score(runs['first'].latest_pushed, examples, truth)
  assert score.num_sequences > 1000
  assert score.num_true_top >= 10
  # Chance is 0.5. The default model, with k-mer counts as inputs, ranks
  # the true binders at about 0.99 (0.992 from the demo's reads); the
  # one-hot alone reached 0.84-0.86.
  assert score.auc_true_top_1p > 0.95
  assert score.spearman > 0.0


@pytest.mark.e2e
def test_second_run_is_served_from_the_cache(runs):
  second = runs['second']
  for component in CACHEABLE:
    assert second.executions[component] == 1, component
  assert second.cached >= len(CACHEABLE)
  # The same model against itself as the new baseline is blessed again,
  # and the Pusher ran again for that blessing.
  assert second.blessed is True
  assert second.executions['Evaluator'] == 2
  assert second.executions['Pusher'] == 2
  assert set(runs['first'].pushed) <= set(second.pushed)
  assert second.latest_pushed and os.path.exists(
    os.path.join(second.latest_pushed, 'saved_model.pb')
  )


@pytest.mark.e2e
def test_unblessed_model_is_not_pushed(runs):
  second, strict = runs['second'], runs['strict']
  assert strict.executions['Evaluator'] == second.executions['Evaluator'] + 1
  assert strict.blessed is False
  assert strict.pushed == second.pushed
  assert strict.executions['Pusher'] == second.executions['Pusher']
  assert strict.executions['Trainer'] == 1
  # Nothing is designed from a model that is not blessed.
  assert strict.executions['Designer'] == 1
  assert 'Designs against' not in strict.console


@pytest.mark.e2e
def test_the_first_run_designs_and_judges_its_designs(runs):
  first = runs['first']
  # 11 per seed; a sequence two seeds' walks both reach counts once.
  found = re.search(
    r'(\d+) designs from 200 seeds by affinity_target', first.console
  )
  assert found and 2100 <= int(found.group(1)) <= 2200
  assert "Designs against the simulator's truth:" in first.console
  assert 'oracle efficiency' in first.console


def _negated_affinity_model(model_dir: str, path: str) -> str:
  """The real exported model, wrapped so every affinity output is negated.

  Its count outputs and transform are the model's own, so only the
  affinity gate can tell the two apart.
  """
  original = tf.saved_model.load(model_dir)
  serve = original.signatures['serving_default']
  transform = original.signatures['transform_features']
  examples = tf.TensorSpec([None], tf.string, name='examples')

  @tf.function(input_signature=[examples])
  def negated(examples):
    out = serve(examples=examples)
    return {k: -v if k.startswith('affinity_') else v for k, v in out.items()}

  @tf.function(input_signature=[examples])
  def transform_features(examples):
    return transform(examples=examples)

  module = tf.Module()
  module.original = original
  tf.saved_model.save(
    module,
    path,
    signatures={
      'serving_default': negated,
      'transform_features': transform_features,
    },
  )
  return path


@pytest.mark.e2e
def test_a_model_with_negated_affinity_is_not_blessed(runs, tmp_path):
  """Same count predictions, inverted affinity: the affinity gate refuses."""
  options = runs['options']
  # The first run's evaluation: its config has no baseline model.
  root = os.path.join(options.pipeline_root, 'Evaluator', 'evaluation')
  first = os.path.join(root, min(os.listdir(root), key=int))
  config = eval_config_writer.load_eval_run(first)[0]
  molecules = validation_messages.affinity_molecules(config)
  assert molecules == {'affinity_target': 'target'}
  examples = local_runner.latest_artifact(
    options, 'Examples', demo_runs.EXAMPLE_GEN
  )
  test_split = os.path.join(examples.uri, f'Split-{keys.TEST_SPLIT}', '*')

  def evaluate(model_dir, name):
    output = str(tmp_path / name)
    tfma.run_model_analysis(
      eval_shared_model=tfma.default_eval_shared_model(
        eval_saved_model_path=model_dir, eval_config=config
      ),
      eval_config=config,
      data_location=test_split,
      output_path=output,
    )
    return tfma.load_validation_result(output)

  pushed = runs['first'].latest_pushed
  assert evaluate(pushed, 'original').validation_ok
  negated = _negated_affinity_model(pushed, str(tmp_path / 'negated_model'))
  result = evaluate(negated, 'negated')
  assert not result.validation_ok
  lines = validation_messages.failure_lines(result, molecules)
  assert any(
    line.startswith('affinity_target (target): affinity/auc_hits_strictest')
    for line in lines
  ), lines
  # The count outputs are untouched: no count gate fails.
  assert not any(line.startswith('mean over outputs') for line in lines)
