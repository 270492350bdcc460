"""PushedModelBaseline: the latest pushed model, found without a resolver."""

import os

from ml_metadata import metadata_store
import pytest
import tensorflow as tf
from tfx import v1 as tfx

from components.evaluation import pushed_baseline


def _save_model(path: str, value: float) -> None:
  """A SavedModel whose `value` variable tells the copies apart."""
  module = tf.Module()
  module.value = tf.Variable(value)
  tf.saved_model.save(module, path)


def _value(path: str) -> float:
  return float(tf.saved_model.load(path).value.numpy())


@pytest.fixture
def candidate(tmp_path):
  """A Model artifact directory in the Trainer's layout."""
  uri = tmp_path / 'trainer_model'
  _save_model(str(uri / 'Format-Serving'), 1.0)
  return str(uri)


def test_no_serving_directory_has_no_pushed_version(tmp_path):
  assert pushed_baseline.latest_pushed_version(str(tmp_path / 'none')) is None
  os.makedirs(tmp_path / 'empty')
  assert pushed_baseline.latest_pushed_version(str(tmp_path / 'empty')) is None


def test_newest_complete_version_wins(tmp_path):
  serving = tmp_path / 'serving'
  _save_model(str(serving / '1700000000'), 2.0)
  _save_model(str(serving / '1700000100'), 3.0)
  # Newer, but interrupted before saved_model.pb: never a model.
  os.makedirs(serving / '1700000200' / 'variables')
  # Not a Pusher version.
  _save_model(str(serving / 'backup'), 4.0)
  # Numeric order, not text order.
  _save_model(str(serving / '999999999'), 5.0)
  latest = pushed_baseline.latest_pushed_version(str(serving))
  assert latest == str(serving / '1700000100')


def test_baseline_is_the_pushed_model_or_else_the_candidate(
  tmp_path, candidate
):
  serving = str(tmp_path / 'serving')
  first = str(tmp_path / 'baseline_1')
  assert pushed_baseline.write_baseline(candidate, serving, first) is None
  assert _value(os.path.join(first, 'Format-Serving')) == 1.0
  _save_model(os.path.join(serving, '1700000000'), 2.0)
  second = str(tmp_path / 'baseline_2')
  pushed = pushed_baseline.write_baseline(candidate, serving, second)
  assert pushed == os.path.join(serving, '1700000000')
  assert _value(os.path.join(second, 'Format-Serving')) == 2.0


def _run_pipeline(root, candidate_uri, serving):
  """Importer -> PushedModelBaseline under the local orchestrator."""
  model = tfx.dsl.Importer(
    source_uri=candidate_uri,
    artifact_type=tfx.types.standard_artifacts.Model,
    reimport=True,
  ).with_id('candidate_importer')
  baseline = pushed_baseline.PushedModelBaseline(
    model=model.outputs['result'], serving_model_dir=serving
  )
  connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
    os.path.join(root, 'metadata.db')
  )
  tfx.orchestration.LocalDagRunner().run(
    tfx.dsl.Pipeline(
      pipeline_name='pushed-baseline-test',
      pipeline_root=os.path.join(root, 'pipeline'),
      components=[model, baseline],
      enable_cache=False,
      metadata_connection_config=connection,
    )
  )
  store = metadata_store.MetadataStore(connection)
  outputs = [
    a for a in store.get_artifacts_by_type('Model') if a.uri != candidate_uri
  ]
  return max(outputs, key=lambda a: a.id)


def test_component_runs_under_the_local_orchestrator(tmp_path, candidate):
  root = str(tmp_path / 'run')
  serving = str(tmp_path / 'serving')
  first = _run_pipeline(root, candidate, serving)
  properties = first.custom_properties
  assert properties[pushed_baseline.SOURCE_PROPERTY].string_value == (
    pushed_baseline.FROM_CANDIDATE
  )
  assert _value(os.path.join(first.uri, 'Format-Serving')) == 1.0
  # What the Pusher would write after a blessing.
  _save_model(os.path.join(serving, '1700000000'), 2.0)
  second = _run_pipeline(root, candidate, serving)
  properties = second.custom_properties
  assert properties[pushed_baseline.SOURCE_PROPERTY].string_value == (
    pushed_baseline.FROM_PUSHED
  )
  assert properties[pushed_baseline.VERSION_PROPERTY].string_value == (
    '1700000000'
  )
  assert _value(os.path.join(second.uri, 'Format-Serving')) == 2.0
