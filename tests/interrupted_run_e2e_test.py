"""A real run killed mid-Transform, then rerun in the same directory."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import handmade_data
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx import v1 as tfx

from pipeline import interrupted_runs
from pipeline import local_runner

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Execution = metadata_store_pb2.Execution


def _start(options):
  """The runner as a user starts it, unbuffered so its lines arrive live."""
  return subprocess.Popen(
    [
      sys.executable,
      '-m',
      'pipeline.local_runner',
      f'--save_base={options.save_base}',
      f'--run_name={options.run_name}',
      f'--input_dir={options.input_dir}',
      f'--epochs={options.epochs}',
      '--num_conv_layers=0',
      '--min_auc_true_top_1p=0.0',
      '--nodesign',
    ],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    cwd=_REPO,
    env={**os.environ, 'PYTHONUNBUFFERED': '1'},
  )


def _wait_for(process, line):
  for text in process.stdout:
    if text.rstrip('\n') == line:
      return
  raise AssertionError(f'{line!r} never printed: {process.stderr.read()}')


def _running_execution(options, timeout_s=60):
  """The execution TFX has registered as RUNNING (polled: it is registered
  just after the component's start line)."""
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    if os.path.exists(options.metadata_path):
      running = [
        e
        for e in _executions(options)
        if e.last_known_state == Execution.RUNNING
      ]
      if running:
        return running[0]
    time.sleep(0.2)
  raise AssertionError('no execution became RUNNING')


def _executions(options):
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(
      options.metadata_path
    )
  )
  return store.get_executions()


@pytest.mark.e2e
def test_a_sigkilled_run_is_cleaned_up_by_the_next_run(tmp_path, capsys):
  options = handmade_data.small_run_options(tmp_path, 'killed')
  process = _start(options)
  _wait_for(process, '  Transform  started')
  killed = _running_execution(options)
  process.send_signal(signal.SIGKILL)
  process.wait()
  transform_dir = os.path.join(options.pipeline_root, 'Transform')
  graph_dir = os.path.join(transform_dir, 'transform_graph', str(killed.id))
  assert os.path.isdir(graph_dir)

  rerun = dataclasses.replace(options)
  capsys.readouterr()
  local_runner.run(rerun)
  out = capsys.readouterr().out
  assert (
    f'  Transform  execution {killed.id} of an interrupted run marked '
    'CANCELED in MLMD' in out
  )
  executions = {e.id: e for e in _executions(options)}
  cancelled = executions[killed.id]
  assert cancelled.last_known_state == Execution.CANCELED
  assert interrupted_runs.ABANDONED_PROPERTY in cancelled.custom_properties
  assert not any(
    e.last_known_state in (Execution.RUNNING, Execution.NEW)
    for e in executions.values()
  )
  # The killed execution's half-written outputs are gone; the rerun
  # transformed once more, recorded once in MLMD, and trained a model.
  assert not os.path.exists(graph_dir)
  graph = local_runner.latest_artifact(options, 'TransformGraph', 'Transform')
  assert graph is not None
  assert os.listdir(os.path.join(transform_dir, 'transform_graph')) == [
    os.path.basename(graph.uri)
  ]
  model = local_runner.latest_artifact(options, 'Model', 'Trainer')
  assert model is not None and os.path.isdir(model.uri)
  assert local_runner.latest_blessing(options) is not None


@pytest.mark.e2e
def test_sigterm_says_what_to_do_and_exits_143(tmp_path):
  options = handmade_data.small_run_options(tmp_path, 'terminated')
  process = _start(options)
  _wait_for(process, '  ImportExampleGen  started')
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 128 + signal.SIGTERM
  assert 'interrupted by SIGTERM' in stderr
  assert 'run the same command again to resume' in stderr
