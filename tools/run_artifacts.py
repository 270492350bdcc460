"""Finds a run's artifacts through ML Metadata, never by URI.

TFX records, for every node, a context of type `node` named
`<pipeline_name>.<node_id>` (`tfx.dsl.compiler.compiler_utils
.node_context_name`; LocalDagRunner and the Kubeflow launchers use the
compiled contexts). Each execution of the node is in that context, and each
artifact it produced is linked to it by an OUTPUT event whose path is
`[output key, index]`. A cached execution gets OUTPUT events too, to the
artifacts of the execution it reused (`execution_publish_utils
.publish_cached_executions`), so the latest run's outputs are found whether
it ran or was served from the cache.

So `latest_output` walks node context -> COMPLETE or CACHED executions,
newest first -> their OUTPUT events with the key -> artifacts. Unlike a
look-up by URI prefix it cannot confuse two nodes whose ids share a prefix
(`Trainer` and `Trainer_01`), artifacts of another pipeline in the same
store, imported artifacts (whose URIs are anywhere) or a failed execution's
left-over outputs.
"""

import os
from typing import Iterable
from typing import List
from typing import Optional

from ml_metadata import errors
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

NODE_CONTEXT_TYPE = 'node'
_DONE = (
  metadata_store_pb2.Execution.COMPLETE,
  metadata_store_pb2.Execution.CACHED,
)
# What TFX counts as a finished output (tfx.orchestration.portable.mlmd
# .event_lib); PENDING_OUTPUT is not one.
_OUTPUT_EVENTS = (
  metadata_store_pb2.Event.OUTPUT,
  metadata_store_pb2.Event.INTERNAL_OUTPUT,
  metadata_store_pb2.Event.DECLARED_OUTPUT,
)
_INPUT_EVENTS = (
  metadata_store_pb2.Event.INPUT,
  metadata_store_pb2.Event.DECLARED_INPUT,
)
# Artifacts whose files may be gone.
_GONE = (
  metadata_store_pb2.Artifact.MARKED_FOR_DELETION,
  metadata_store_pb2.Artifact.DELETED,
  metadata_store_pb2.Artifact.ABANDONED,
)


def node_context_name(pipeline_name: str, node_id: str) -> str:
  """The name TFX gives a node's MLMD context."""
  return f'{pipeline_name}.{node_id}'


def open_store(metadata_path: str) -> Optional[metadata_store.MetadataStore]:
  """The SQLite store at `metadata_path`, or None when there is none yet."""
  if not os.path.exists(metadata_path):
    return None
  return metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  )


def _event_keys(event: metadata_store_pb2.Event) -> List[str]:
  """The output keys in an event's path (TFX writes [key, index] pairs)."""
  return [step.key for step in event.path.steps if step.HasField('key')]


def outputs(
  store: metadata_store.MetadataStore,
  pipeline_name: str,
  node_id: str,
  output_key: Optional[str] = None,
  type_name: Optional[str] = None,
  inputs: bool = False,
) -> Iterable[metadata_store_pb2.Artifact]:
  """The outputs of a node's finished executions, newest execution first.

  Args:
    store: the pipeline's MLMD store.
    pipeline_name: the pipeline's name (`pipeline.configs.PIPELINE_NAME`).
    node_id: the node's id, e.g. 'Trainer' or 'Trainer_01'.
    output_key: only outputs under this key (e.g. 'model'); None: any key.
    type_name: only artifacts of this type (e.g. 'Model'); None: any type.
    inputs: the executions' inputs instead (`output_key` is then the input
      key, e.g. the Evaluator's 'model').

  Yields:
    Artifacts linked by an output event to a COMPLETE or CACHED execution
    of the node; per execution in the order of their event paths. An
    artifact reused by several (cached) executions comes once, with the
    newest.
  """
  context = store.get_context_by_type_and_name(
    NODE_CONTEXT_TYPE, node_context_name(pipeline_name, node_id)
  )
  if context is None:
    return
  type_id = None
  if type_name is not None:
    try:
      type_id = store.get_artifact_type(type_name).id
    except errors.NotFoundError:  # Nothing of this type was ever stored.
      return
  executions = [
    e
    for e in store.get_executions_by_context(context.id)
    if e.last_known_state in _DONE
  ]
  if not executions:
    return
  executions.sort(key=lambda e: (e.create_time_since_epoch, e.id), reverse=True)
  events = store.get_events_by_execution_ids([e.id for e in executions])
  by_execution = {}
  for event in events:
    if event.type not in (_INPUT_EVENTS if inputs else _OUTPUT_EVENTS):
      continue
    if output_key is not None and output_key not in _event_keys(event):
      continue
    by_execution.setdefault(event.execution_id, []).append(event)
  wanted = [e.artifact_id for found in by_execution.values() for e in found]
  if not wanted:
    return
  artifacts = {a.id: a for a in store.get_artifacts_by_id(wanted)}
  seen = set()
  for execution in executions:
    for event in by_execution.get(execution.id, []):
      artifact = artifacts.get(event.artifact_id)
      if artifact is None or artifact.id in seen:
        continue
      seen.add(artifact.id)
      if type_id is not None and artifact.type_id != type_id:
        continue
      if artifact.state in _GONE:
        continue
      yield artifact


def latest_output(
  metadata_path: str,
  pipeline_name: str,
  node_id: str,
  output_key: Optional[str] = None,
  type_name: Optional[str] = None,
) -> Optional[metadata_store_pb2.Artifact]:
  """The newest finished output of a node, or None.

  Args:
    metadata_path: the run's SQLite MLMD file (`metadata.db`).
    pipeline_name: the pipeline's name (`pipeline.configs.PIPELINE_NAME`).
    node_id: the node's id, e.g. 'Evaluator'.
    output_key: the output key, e.g. 'blessing'; None: any key.
    type_name: the artifact type, e.g. 'ModelBlessing'; None: any type.

  Returns:
    The first artifact `outputs` yields: an output of the node's newest
    COMPLETE or CACHED execution (a cached run's is the artifact it reused).
    None when the store, the node or such an output does not exist.
  """
  store = open_store(metadata_path)
  if store is None:
    return None
  return next(
    iter(outputs(store, pipeline_name, node_id, output_key, type_name)), None
  )


def latest_input(
  metadata_path: str,
  pipeline_name: str,
  node_id: str,
  input_key: str,
  type_name: Optional[str] = None,
) -> Optional[metadata_store_pb2.Artifact]:
  """What the newest finished execution of a node read under input_key.

  E.g. the model the latest Evaluator judged: a Trainer's, or with replicas
  the ReplicaMean's. None when there is no such execution or input.
  """
  store = open_store(metadata_path)
  if store is None:
    return None
  return next(
    iter(
      outputs(store, pipeline_name, node_id, input_key, type_name, inputs=True)
    ),
    None,
  )
