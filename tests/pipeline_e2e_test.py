"""End-to-end: the whole pipeline on the bundled simulated dataset.

Runs LocalDagRunner three times in one directory: a first run that trains,
blesses and pushes; an identical second run served from the cache; a third
with an impossible blessing threshold, which must not push.
"""

import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx import v1 as tfx

from pipeline import local_runner
from tools import truth_scoring

_COMPONENTS = (
  'ImportExampleGen',
  'StatisticsGen',
  'ExperimentSchemaGen',
  'ExampleValidator',
  'DataContractCheck',
  'Transform',
  'Trainer',
  'Evaluator',
  'Pusher',
)
# Everything before the Evaluator depends only on data and parameters.
_CACHEABLE = _COMPONENTS[:7]


def _executions(options, component):
  """Executor runs of one component (cached runs do not add one)."""
  path = os.path.join(
    options.pipeline_root, component, '.system', 'executor_execution'
  )
  return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _cached_execution_count(options):
  config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
    options.metadata_path
  )
  store = metadata_store.MetadataStore(config)
  return sum(
    e.last_known_state == metadata_store_pb2.Execution.CACHED
    for e in store.get_executions()
  )


@pytest.fixture(scope='module')
def options(tmp_path_factory):
  return local_runner.RunOptions(
    save_base=str(tmp_path_factory.mktemp('runs')), run_name='e2e'
  )


@pytest.mark.e2e
def test_first_run_trains_blesses_and_pushes(options, capsys):
  local_runner.run(options)
  for component in _COMPONENTS:
    assert len(_executions(options, component)) == 1, component
  assert local_runner.latest_blessing(options) is True
  pushed = local_runner.latest_pushed_model(options)
  assert pushed and os.path.exists(os.path.join(pushed, 'saved_model.pb'))
  out = capsys.readouterr().out
  assert options.pipeline_root in out and pushed in out
  assert 'ROC-AUC(true top 1%)' in out


@pytest.mark.e2e
def test_pushed_model_recovers_true_binders(options):
  pushed = local_runner.latest_pushed_model(options)
  examples = local_runner.held_out_examples(options)
  truth = os.path.join(
    local_runner.resolve_input_dir(options), truth_scoring.TRUTH_FILENAME
  )
  score = truth_scoring.score(pushed, examples, truth)
  assert score.num_sequences > 1000
  assert score.num_true_top >= 10
  # Chance is 0.5; a model that learned the binding motifs is far above.
  assert score.auc_true_top_1p > 0.75
  assert score.spearman > 0.0


@pytest.mark.e2e
def test_second_run_is_served_from_the_cache(options):
  pushed_before = local_runner.latest_pushed_model(options)
  local_runner.run(options)
  for component in _CACHEABLE:
    assert len(_executions(options, component)) == 1, component
  assert _cached_execution_count(options) >= len(_CACHEABLE)
  # The same model against itself as the new baseline is blessed again.
  assert local_runner.latest_blessing(options) is True
  assert local_runner.latest_pushed_model(options) >= pushed_before


@pytest.mark.e2e
def test_unblessed_model_is_not_pushed(options):
  pushed = sorted(os.listdir(options.serving_model_dir))
  evaluations = len(_executions(options, 'Evaluator'))
  strict = local_runner.RunOptions(
    **{**vars(options), 'min_auc_true_top_1p': 1.01}
  )
  local_runner.run(strict)
  assert len(_executions(options, 'Evaluator')) == evaluations + 1
  assert local_runner.latest_blessing(options) is False
  assert sorted(os.listdir(options.serving_model_dir)) == pushed
  assert len(_executions(options, 'Trainer')) == 1
