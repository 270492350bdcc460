"""A real run killed mid-Trainer, then rerun in the same directory."""

import os
import signal
import subprocess
import sys

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


def _executions(options):
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(
      options.metadata_path
    )
  )
  return store.get_executions()


@pytest.mark.e2e
def test_a_sigkilled_run_is_cleaned_up_and_the_rerun_pushes_once(
  tmp_path, capsys
):
  options = handmade_data.small_run_options(tmp_path, 'killed', epochs=30)
  process = _start(options)
  # The Trainer's executor is training (its execution RUNNING in MLMD).
  _wait_for(process, 'Epoch 1/30')
  process.send_signal(signal.SIGKILL)
  process.wait()
  [killed] = [
    e for e in _executions(options) if e.last_known_state == (Execution.RUNNING)
  ]
  trainer_dir = os.path.join(options.pipeline_root, 'Trainer')
  assert os.path.isdir(os.path.join(trainer_dir, 'model', str(killed.id)))

  rerun = handmade_data.small_run_options(tmp_path, 'killed', epochs=30)
  rerun.input_dir = options.input_dir
  capsys.readouterr()
  local_runner.run(rerun)
  out = capsys.readouterr().out
  assert (
    f'  Trainer  execution {killed.id} of an interrupted run marked '
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
  # The killed execution's half-written model is gone; the rerun trained
  # one model, recorded once in MLMD, and the Evaluator judged it.
  assert not os.path.exists(os.path.join(trainer_dir, 'model', str(killed.id)))
  trained = [
    e
    for e in executions.values()
    if e.last_known_state == Execution.COMPLETE and e.id > killed.id
  ]
  model = local_runner.latest_artifact(options, 'Model', 'Trainer')
  assert model is not None and os.path.isdir(model.uri)
  assert os.listdir(os.path.join(trainer_dir, 'model')) == [
    os.path.basename(model.uri)
  ]
  assert trained and local_runner.latest_blessing(options) is not None


@pytest.mark.e2e
def test_sigterm_says_what_to_do_and_exits_143(tmp_path):
  options = handmade_data.small_run_options(tmp_path, 'terminated', epochs=30)
  process = _start(options)
  _wait_for(process, '  Trainer  started')
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 128 + signal.SIGTERM
  assert 'interrupted by SIGTERM' in stderr
  assert 'run the same command again to resume' in stderr
