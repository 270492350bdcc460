"""Cleans up after a run that was killed: its executions stay RUNNING in MLMD.

A run killed by SIGKILL (or a crash) leaves its current execution RUNNING in
ML Metadata forever and its output folders half-written. TFX's cache ignores
both, so a rerun resumes correctly, but MLMD's lineage says the execution is
still running and the folders look like outputs. `recover` runs at the start
of every local run, while the run directory's lock is held (so no live run
can own a RUNNING execution): it marks each such execution CANCELED, with a
custom property saying why, removes its output and executor folders, and
returns one line per execution for the console.
"""

import datetime
import os
import shutil
from typing import List

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

_UNFINISHED = (
  metadata_store_pb2.Execution.NEW,
  metadata_store_pb2.Execution.RUNNING,
)
# Custom property recording why an execution was cancelled.
ABANDONED_PROPERTY = 'aptamer_tfx_abandoned'


def _node_id(store, execution_id: int) -> str:
  for context in store.get_contexts_by_execution(execution_id):
    [context_type] = store.get_context_types_by_id([context.type_id])
    if context_type.name == 'node':
      return context.name.split('.', 1)[-1]
  return ''


def _partial_folders(pipeline_root: str, node_id: str, execution_id: int):
  """The folders TFX made for one execution of one node."""
  node_dir = os.path.join(pipeline_root, node_id)
  if not node_id or not os.path.isdir(node_dir):
    return []
  found = []
  for key in os.listdir(node_dir):
    parent = os.path.join(node_dir, key)
    if key == '.system':
      parent = os.path.join(parent, 'executor_execution')
    candidate = os.path.join(parent, str(execution_id))
    if os.path.isdir(candidate):
      found.append(candidate)
  return found


def recover(metadata_path: str, pipeline_root: str) -> List[str]:
  """Cancels the unfinished executions of an earlier, interrupted run.

  Call only while holding the run directory's lock.

  Args:
    metadata_path: the run's SQLite MLMD file (nothing happens if missing).
    pipeline_root: the pipeline root whose folders the executions wrote.

  Returns:
    One line per cancelled execution, for the console.
  """
  if not os.path.exists(metadata_path):
    return []
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  )
  now = datetime.datetime.now().isoformat(timespec='seconds')
  lines = []
  for execution in store.get_executions():
    if execution.last_known_state not in _UNFINISHED:
      continue
    node_id = _node_id(store, execution.id)
    execution.last_known_state = metadata_store_pb2.Execution.CANCELED
    execution.custom_properties[ABANDONED_PROPERTY].string_value = (
      f'still running when a later run started at {now}: the run that '
      'started it was interrupted'
    )
    store.put_executions([execution])
    removed = _partial_folders(pipeline_root, node_id, execution.id)
    for folder in removed:
      shutil.rmtree(folder, ignore_errors=True)
    lines.append(
      f'  {node_id or "?"}  execution {execution.id} of an interrupted run '
      f'marked CANCELED in MLMD; {len(removed)} partial folder(s) removed'
    )
  return lines
