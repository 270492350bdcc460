"""The console routing of local runs (pipeline/console.py)."""

import inspect
import io
import logging
import os
import re
import time
import warnings

from absl import logging as absl_logging
import handmade_data
import pytest
from tfx.orchestration.local import local_dag_runner
from tfx.orchestration.portable import launcher

from pipeline import console
from pipeline import local_runner


@pytest.fixture
def console_handlers():
  """Console handlers as a real run has them: absl's and a plain one."""
  absl_stream, plain_stream = io.StringIO(), io.StringIO()
  absl_handler = absl_logging.ABSLHandler(absl_logging.PythonFormatter())
  absl_handler.python_handler.stream = absl_stream
  plain = logging.StreamHandler(plain_stream)
  tf_logger = logging.getLogger('tensorflow')
  logging.getLogger().addHandler(absl_handler)
  tf_logger.addHandler(plain)
  yield absl_stream, plain_stream
  logging.getLogger().removeHandler(absl_handler)
  tf_logger.removeHandler(plain)


def _log(run_dir):
  with open(console.log_path(run_dir), encoding='utf-8') as f:
    return f.read()


def test_tfx_still_logs_the_records_the_console_reads():
  runner_source = inspect.getsource(local_dag_runner)
  for template in (console.STARTED, console.FINISHED, console.SKIPPED):
    assert repr(template) in runner_source, template
  launcher_source = inspect.getsource(launcher)
  for template in (console.CACHED, console.NOT_TRIGGERED):
    assert repr(template) in launcher_source, template


def test_component_records_become_one_console_line_each(tmp_path, capsys):
  with console.routed(str(tmp_path), command='cmd'):
    absl_logging.info(console.STARTED, 'Transform')
    absl_logging.info(console.FINISHED, 'Transform')
    absl_logging.info(console.STARTED, 'Trainer')
    absl_logging.info(console.CACHED, 7)
    absl_logging.info(console.FINISHED, 'Trainer')
    absl_logging.info(console.SKIPPED, 'Pusher')
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == '  Transform  started'
  assert re.fullmatch(r'  Transform  finished in \d+\.\d s', lines[1])
  assert lines[2:5] == [
    '  Trainer  started',
    '  Trainer  cached',
    '  Pusher  skipped',
  ]
  assert lines[5] == f'  full log:           {console.log_path(str(tmp_path))}'
  assert len(lines) == 6
  assert 'Component Transform is running.' in _log(str(tmp_path))


def test_component_lines_survive_tensorflow_resetting_absl_verbosity(
  tmp_path, capsys
):
  with console.routed(str(tmp_path)):
    # What tf.saved_model.save does (trackable/autotrackable.py).
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.FATAL)
    absl_logging.set_verbosity(verbosity)
    absl_logging.info(console.STARTED, 'Evaluator')
  assert '  Evaluator  started' in capsys.readouterr().out


def test_noise_goes_to_the_log_only(tmp_path, capfd, console_handlers):
  absl_stream, plain_stream = console_handlers
  with console.routed(str(tmp_path), verbosity=0, command='cmd --flag'):
    absl_logging.info('Using deployment config:\n %s', 'executor_specs {}')
    logging.getLogger('tensorflow').warning('Assets written to: /x/assets')
    warnings.warn('out of data', UserWarning, stacklevel=1)
  out, err = capfd.readouterr()
  assert 'deployment' not in out + err
  assert 'Assets' not in out + err
  assert absl_stream.getvalue() == plain_stream.getvalue() == ''
  log = _log(str(tmp_path))
  assert log.startswith('==== ') and log.splitlines()[0].endswith(
    '  cmd --flag'
  )
  assert 'Using deployment config:\n executor_specs {}' in log
  assert 'Assets written to: /x/assets' in log
  assert 'UserWarning: out of data' in log
  # The console handlers are back after the run.
  absl_logging.warning('after the run')
  assert 'after the run' in absl_stream.getvalue()


def test_verbosity_1_keeps_the_records_on_the_console(
  tmp_path, capsys, console_handlers
):
  absl_stream, plain_stream = console_handlers
  with console.routed(str(tmp_path), verbosity=1):
    absl_logging.info('Using deployment config:\n %s', 'executor_specs {}')
    logging.getLogger('tensorflow').info('Assets written to: /x/assets')
    absl_logging.info(console.STARTED, 'Evaluator')
  assert 'Using deployment config:' in absl_stream.getvalue()
  assert 'Assets written to' in plain_stream.getvalue()
  assert '  Evaluator  started' in capsys.readouterr().out
  assert 'Using deployment config:' in _log(str(tmp_path))


def test_errors_also_reach_stderr(tmp_path, capsys):
  with console.routed(str(tmp_path)):
    absl_logging.warning('a warning')
    absl_logging.error('Execution %d failed.', 3)
  err = capsys.readouterr().err
  assert 'Execution 3 failed.' in err
  assert 'a warning' not in err


def test_a_failed_run_names_the_component_and_logs_the_traceback(
  tmp_path, capsys
):
  with pytest.raises(RuntimeError, match='boom'):
    with console.routed(str(tmp_path)):
      absl_logging.info(console.STARTED, 'Trainer')
      raise RuntimeError('boom')
  out = capsys.readouterr().out
  assert re.search(r'^  Trainer  failed after \d+\.\d s$', out, re.M)
  assert 'full log:' in out
  log = _log(str(tmp_path))
  assert 'The run failed.' in log and 'RuntimeError: boom' in log


def test_the_log_is_appended_and_only_created_when_something_is_logged(
  tmp_path, capsys
):
  run_dir = str(tmp_path / 'run')
  with console.routed(run_dir, command='first'):
    pass
  assert not os.path.exists(run_dir)
  assert 'full log' not in capsys.readouterr().out
  for command in ('second', 'third'):
    with console.routed(run_dir, command=command):
      absl_logging.info('record of %s', command)
  headers = [h for h in _log(run_dir).splitlines() if h.startswith('==== ')]
  assert [h.split('  ')[-1] for h in headers] == ['second', 'third']


def test_heartbeats_start_at_30_s_then_double():
  now = [0.0]
  lines = []
  progress = console.ComponentProgress(write=lines.append, clock=lambda: now[0])
  progress.started('Transform')
  for now[0] in (10, 29.9, 30.2, 45, 59, 60.5, 100, 121, 200, 239):
    progress.beat()
  assert lines == [
    '  Transform  started',
    '  Transform  still running, 30 s',
    '  Transform  still running, 60 s',
    '  Transform  still running, 121 s',
  ]
  # Long steps: 240 s, 480 s, 960 s, then a line every 10 minutes.
  del lines[:]
  for now[0] in range(240, 4 * 3600, 5):
    progress.beat()
  assert lines[:4] == [
    '  Transform  still running, 240 s',
    '  Transform  still running, 480 s',
    '  Transform  still running, 16.0 min',
    '  Transform  still running, 26.0 min',
  ]
  assert len(lines) == 3 + len(range(1560, 4 * 3600, 600))
  progress.finished('Transform')
  del lines[:]
  now[0] += 10000
  progress.beat()
  assert lines == []


def test_the_heartbeat_thread_prints_while_a_component_runs(tmp_path, capsys):
  with console.routed(str(tmp_path), heartbeat_s=0.2):
    absl_logging.info(console.STARTED, 'Transform')
    time.sleep(1.0)
    absl_logging.info(console.FINISHED, 'Transform')
    time.sleep(0.5)
  beats = [b for b in capsys.readouterr().out.splitlines() if 'still' in b]
  # At 0.2 s, 0.4 s and 0.8 s (doubling), none once it finished.
  assert 1 <= len(beats) <= 4, beats
  assert all(
    re.fullmatch(r'  Transform  still running, \d s', b) for b in beats
  ), beats


@pytest.mark.parametrize(
  'argv, verbosity',
  [
    (['prog'], 0),
    (['prog', '--verbosity=1'], 1),
    (['prog', '-v', '2'], 2),
    (['prog', '--v=1', '--dataset=demo'], 1),
    (['prog', '-v', 'tests/x.py'], 0),
    (['prog', '--', '--verbosity=1'], 0),
  ],
)
def test_argv_verbosity(argv, verbosity):
  assert console.argv_verbosity(argv) == verbosity


def test_prepare_process_quiets_native_logs_and_holds_warnings(
  tmp_path, monkeypatch
):
  for name in console.QUIET_ENV:
    monkeypatch.setenv(name, 'x')
    monkeypatch.delenv(name)
  with warnings.catch_warnings():
    warnings.simplefilter('always')
    console._release_held_warnings()
    console.prepare_process(['prog', '--verbosity=1'])
    assert 'TF_CPP_MIN_LOG_LEVEL' not in os.environ
    console.prepare_process(['prog'])
    assert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '3'
    assert os.environ['GRPC_VERBOSITY'] == 'ERROR'
    assert 'FutureWarning:google.api_core' in os.environ['PYTHONWARNINGS']
    warnings.warn('an import-time warning', UserWarning, stacklevel=1)
    with console.routed(str(tmp_path)):
      absl_logging.info('a record')
  assert 'an import-time warning' in _log(str(tmp_path))


@pytest.mark.e2e
def test_a_default_run_prints_a_short_console(tmp_path, capfd):
  options = handmade_data.small_run_options(
    tmp_path, 'console', beam_mode='in_memory'
  )
  capfd.readouterr()
  local_runner.run(options)
  out, err = capfd.readouterr()
  lines = (out + err).splitlines()
  console_text = '\n'.join(lines)
  assert len(lines) <= 150, console_text
  for component in ('ImportExampleGen', 'Transform', 'Trainer', 'Evaluator'):
    assert f'  {component}  started' in lines, console_text
    done = rf'  {component}  (finished in \d+\.\d s|cached)'
    assert any(re.fullmatch(done, line) for line in lines), console_text
  # The epoch table: one mean line per split and evaluation on the console,
  # every per-output table in the log.
  assert any(s.startswith('Epoch evaluation: mean over') for s in lines)
  assert any(s.split()[:2] == ['pre', 'validation'] for s in lines)
  assert 'Outputs:' in lines
  assert f'  full log:           {console.log_path(options.run_dir)}' in lines
  log = _log(options.run_dir)
  assert 'local_dag_runner.py' in log
  assert 'Component Transform is running.' in log
  assert 'validation evaluation, pre-training' in log
  assert 'Going to run a new execution' in log
