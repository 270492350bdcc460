"""tools/run_artifacts.py on a small real MLMD store built with the MLMD API.

The store holds what TFX writes for two node contexts (`Trainer` and an
Importer) plus the same node id in another pipeline; the imported and the
other pipeline's artifacts have URIs under `<pipeline_root>/Trainer/`, and
newer ids, so a look-up by URI prefix would return them.
"""

import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx import v1 as tfx

from pipeline import configs
from pipeline import local_runner
from tools import run_artifacts

PIPELINE = configs.PIPELINE_NAME
Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event


class _Store:
  """Writes contexts, executions and events the way TFX's launcher does."""

  def __init__(self, path):
    self.store = metadata_store.MetadataStore(
      tfx.orchestration.metadata.sqlite_metadata_connection_config(path)
    )
    self.node_type = self._context_type('node')
    self.execution_type = self.store.put_execution_type(
      metadata_store_pb2.ExecutionType(name='node_execution')
    )
    self.types = {}
    self.contexts = {}
    self.artifacts = {}

  def _context_type(self, name):
    return self.store.put_context_type(
      metadata_store_pb2.ContextType(name=name)
    )

  def _artifact_type(self, name):
    if name not in self.types:
      self.types[name] = self.store.put_artifact_type(
        metadata_store_pb2.ArtifactType(name=name)
      )
    return self.types[name]

  def node(self, pipeline, node_id):
    name = f'{pipeline}.{node_id}'
    if name not in self.contexts:
      context = metadata_store_pb2.Context(type_id=self.node_type, name=name)
      [context.id] = self.store.put_contexts([context])
      self.contexts[name] = context
    return self.contexts[name]

  def artifact(self, type_name, uri, blessed=None):
    artifact = metadata_store_pb2.Artifact(
      type_id=self._artifact_type(type_name),
      uri=uri,
      state=metadata_store_pb2.Artifact.LIVE,
    )
    if blessed is not None:
      artifact.custom_properties['blessed'].int_value = blessed
    [artifact.id] = self.store.put_artifacts([artifact])
    self.artifacts[artifact.id] = artifact
    return artifact.id

  def execution(self, context, state, outputs, event=Event.OUTPUT):
    """One execution; `outputs` maps output keys to artifact ids."""
    execution = metadata_store_pb2.Execution(
      type_id=self.execution_type, last_known_state=state
    )
    pairs = []
    for key, ids in outputs.items():
      for index, artifact_id in enumerate(ids):
        e = metadata_store_pb2.Event(type=event, artifact_id=artifact_id)
        e.path.steps.add().key = key
        e.path.steps.add().index = index
        pairs.append((self.artifacts[artifact_id], e))
    execution_id, _, _ = self.store.put_execution(execution, pairs, [context])
    return execution_id


@pytest.fixture
def run(tmp_path):
  return _build_run(tmp_path)


def _build_run(tmp_path):
  """A run directory whose MLMD would fool a URI-prefix look-up."""
  options = local_runner.RunOptions(save_base=str(tmp_path), run_name='run')
  os.makedirs(options.run_dir)
  root = options.pipeline_root
  s = _Store(options.metadata_path)
  trainer = s.node(PIPELINE, 'Trainer')
  importer = s.node(PIPELINE, 'Importer')
  evaluator = s.node(PIPELINE, 'Evaluator')
  other = s.node('other-pipeline', 'Trainer')
  ids = {}
  # Run 1 trains and evaluates (not blessed).
  ids['model'] = s.artifact('Model', f'{root}/Trainer/model/1')
  ids['model_run'] = s.artifact('ModelRun', f'{root}/Trainer/model_run/1')
  s.execution(
    trainer,
    Execution.COMPLETE,
    {'model': [ids['model']], 'model_run': [ids['model_run']]},
  )
  ids['first_blessing'] = s.artifact(
    'ModelBlessing', f'{root}/Evaluator/blessing/2', blessed=0
  )
  s.execution(
    evaluator, Execution.COMPLETE, {'blessing': [ids['first_blessing']]}
  )
  # An imported Model whose URI lies under the Trainer's folder.
  ids['imported'] = s.artifact('Model', f'{root}/Trainer/model/imported')
  s.execution(importer, Execution.COMPLETE, {'result': [ids['imported']]})
  # Another pipeline with the same root and node ids.
  ids['other'] = s.artifact('Model', f'{root}/Trainer/model/9')
  s.execution(other, Execution.COMPLETE, {'model': [ids['other']]})
  # Run 2: the Trainer is served from the cache (events to run 1's
  # artifacts); the Evaluator ran again and blessed.
  s.execution(
    trainer,
    Execution.CACHED,
    {'model': [ids['model']], 'model_run': [ids['model_run']]},
  )
  ids['blessing'] = s.artifact(
    'ModelBlessing', f'{root}/Evaluator/blessing/5', blessed=1
  )
  s.execution(evaluator, Execution.COMPLETE, {'blessing': [ids['blessing']]})
  # Transform: settings A, then B, then A again, served from A's cache.
  transform = s.node(PIPELINE, 'Transform')
  for name in ('graph_a', 'graph_b'):
    ids[name] = s.artifact('TransformGraph', f'{root}/Transform/{name}')
    s.execution(transform, Execution.COMPLETE, {'transform_graph': [ids[name]]})
  s.execution(
    transform, Execution.CACHED, {'transform_graph': [ids['graph_a']]}
  )
  # Run 3: the Trainer failed; its output was never finished.
  ids['failed'] = s.artifact('Model', f'{root}/Trainer/model/6')
  s.execution(
    trainer,
    Execution.FAILED,
    {'model': [ids['failed']]},
    event=Event.PENDING_OUTPUT,
  )
  return options, ids


def _prefix_lookup(options, type_name, producer):
  """The look-up `local_runner.latest_artifact` used to do."""
  store = run_artifacts.open_store(options.metadata_path)
  prefix = os.path.join(options.pipeline_root, producer) + os.sep
  candidates = [
    a
    for a in store.get_artifacts_by_type(type_name)
    if a.uri.startswith(prefix)
  ]
  return max(candidates, key=lambda a: a.id)


def test_latest_output_follows_the_node_context_not_the_uri(run):
  options, ids = run
  # The store does fool a prefix look-up.
  assert _prefix_lookup(options, 'Model', 'Trainer').id == ids['failed']
  model = run_artifacts.latest_output(
    options.metadata_path, PIPELINE, 'Trainer', 'model'
  )
  assert model.id == ids['model']
  assert model.uri.endswith('/Trainer/model/1')
  model_run = run_artifacts.latest_output(
    options.metadata_path, PIPELINE, 'Trainer', 'model_run'
  )
  assert model_run.id == ids['model_run']
  imported = run_artifacts.latest_output(
    options.metadata_path, PIPELINE, 'Importer', 'result'
  )
  assert imported.id == ids['imported']
  other = run_artifacts.latest_output(
    options.metadata_path, 'other-pipeline', 'Trainer', 'model'
  )
  assert other.id == ids['other']


def test_cached_executions_count_and_failed_ones_do_not(run):
  options, ids = run
  store = run_artifacts.open_store(options.metadata_path)
  # Newest execution first: the cached run 2, then run 1, the same
  # artifact once; the failed run 3 is skipped.
  assert [
    a.id for a in run_artifacts.outputs(store, PIPELINE, 'Trainer', 'model')
  ] == [ids['model']]
  # Run 2's Evaluator ran after run 1's: its blessing comes first.
  assert [
    a.id
    for a in run_artifacts.outputs(store, PIPELINE, 'Evaluator', 'blessing')
  ] == [ids['blessing'], ids['first_blessing']]
  # A cached execution is newer than the one that made its artifact.
  graph = run_artifacts.latest_output(
    options.metadata_path, PIPELINE, 'Transform', 'transform_graph'
  )
  assert graph.id == ids['graph_a']
  assert [
    a.id
    for a in run_artifacts.outputs(
      store, PIPELINE, 'Transform', 'transform_graph'
    )
  ] == [ids['graph_a'], ids['graph_b']]


def test_filters_and_missing_things_give_none(run, tmp_path):
  options, ids = run
  path = options.metadata_path
  by_type = run_artifacts.latest_output(
    path, PIPELINE, 'Trainer', type_name='ModelRun'
  )
  assert by_type.id == ids['model_run']
  assert run_artifacts.latest_output(path, PIPELINE, 'Trainer', 'nope') is None
  assert (
    run_artifacts.latest_output(path, PIPELINE, 'Trainer', type_name='Schema')
    is None
  )
  assert run_artifacts.latest_output(path, PIPELINE, 'Pusher', 'x') is None
  missing = str(tmp_path / 'nothing' / 'metadata.db')
  assert run_artifacts.latest_output(missing, PIPELINE, 'Trainer') is None
  assert not os.path.exists(missing)  # A look-up creates no store.


def test_local_runner_looks_up_through_mlmd(run):
  options, ids = run
  assert (
    local_runner.latest_artifact(options, 'Model', 'Trainer').id
    == (ids['model'])
  )
  assert local_runner.latest_artifact(options, 'Schema', 'Trainer') is None
  assert local_runner.latest_blessing(options) is True
