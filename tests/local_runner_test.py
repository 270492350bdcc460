"""The local runner's refusals: before any component runs, with one line."""

import glob
import os
import re
import subprocess
import sys

import handmade_data
import pytest
import run_lock_test

from pipeline import local_runner
from pipeline import run_lock

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _options(tmp_path):
  return handmade_data.small_run_options(tmp_path, 'r')


def test_a_save_base_that_is_a_file_is_refused_naming_the_flag(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('')
  options = _options(tmp_path)
  options.save_base = str(blocker)
  with pytest.raises(local_runner.InputError, match='--save_base=.*file'):
    local_runner.run(options)


@pytest.mark.parametrize(
  'flag, value, named',
  [
    ('run_name', 'sweep,dropouts=[0.2,0.2]', '[ ]'),
    ('run_name', 'try*', '*'),
    ('save_base', 'runs{a,b}', '{ }'),
  ],
)
def test_a_run_directory_with_pattern_characters_is_refused(
  tmp_path, flag, value, named
):
  options = _options(tmp_path)
  if flag == 'save_base':
    value = str(tmp_path / value)
  setattr(options, flag, value)
  with pytest.raises(
    local_runner.InputError,
    match=f'--{flag}=.*: contains {re.escape(named)}, which Beam and TFX',
  ) as refused:
    local_runner.run(options)
  assert named in str(refused.value)
  assert not os.path.exists(options.run_dir)  # Refused before writing.


def test_a_read_only_save_base_is_refused(tmp_path):
  read_only = tmp_path / 'ro'
  read_only.mkdir()
  read_only.chmod(0o555)
  try:
    if os.access(read_only, os.W_OK):
      pytest.skip('this user writes to read-only directories (root)')
    options = _options(tmp_path)
    options.save_base = str(read_only)
    with pytest.raises(local_runner.InputError, match='not a writable'):
      local_runner.run(options)
  finally:
    read_only.chmod(0o755)


def test_a_second_run_on_the_same_directory_is_refused(tmp_path):
  options = _options(tmp_path)
  holder = run_lock_test.start_holder(options.run_dir)
  try:
    with pytest.raises(run_lock.RunLockedError, match=f'PID {holder.pid}'):
      local_runner.run(options)
    # Refused before the pipeline started: no component wrote anything.
    assert not os.path.exists(options.pipeline_root)
  finally:
    holder.kill()
    holder.wait()


def _main(*flags):
  return subprocess.run(
    [sys.executable, '-m', 'pipeline.local_runner', *flags],
    capture_output=True,
    text=True,
    cwd=_REPO,
    timeout=300,
  )


def test_main_gives_user_errors_one_line_and_exit_status_2(tmp_path):
  result = _main(f'--save_base={tmp_path}', '--dataset=nope')
  assert result.returncode == 2
  errors = [line for line in result.stderr.splitlines() if 'error:' in line]
  assert errors == [
    "error: --dataset='nope' is not registered; known datasets: ['demo', "
    "'demo_reads'] "
    '(or pass --input_dir)'
  ]
  assert 'Traceback' not in result.stderr


@pytest.mark.parametrize(
  'error, exits',
  [
    (local_runner.InputError('--epochs must be at least 1, got 0'), True),
    (run_lock.RunLockedError('in use'), True),
    (KeyError('a bug'), False),
    (ValueError('an internal check'), False),
  ],
)
def test_main_separates_user_errors_from_internal_ones(
  monkeypatch, capsys, error, exits
):
  def failing_run(options):
    raise error

  monkeypatch.setattr(local_runner, 'run', failing_run)
  monkeypatch.setattr(local_runner.run_options, 'from_flags', lambda f: None)
  if exits:
    # A user error: one line on stderr, exit status 2, no traceback.
    with pytest.raises(SystemExit) as exit_info:
      local_runner.main([])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f'error: {error}'
  else:
    # Anything else propagates: absl prints its traceback, exit status 1.
    with pytest.raises(type(error)):
      local_runner.main([])


def _corrupt(path, kind):
  data = open(path, 'rb').read()
  if kind == 'truncated':
    data = data[: len(data) // 2]
  elif kind == 'flipped':
    middle = bytearray(data)
    for i in range(len(middle) // 3, len(middle) // 3 + 20):
      middle[i] ^= 0xFF
    data = bytes(middle)
  elif kind == 'not_examples':
    # A whole gzip TFRecord stream whose records are not tf.Examples: only
    # ImportExampleGen's parse finds it.
    import tensorflow as tf

    compression = 'GZIP' if path.endswith('.gz') else ''
    with tf.io.TFRecordWriter(path, compression) as writer:
      writer.write(b'\xff\xff\xff not a proto')
    return
  else:  # A text file with the examples' name.
    data = b'not a tfrecord\n' * 50
  with open(path, 'wb') as f:
    f.write(data)


@pytest.mark.e2e
@pytest.mark.parametrize(
  'kind', ['truncated', 'flipped', 'text', 'not_examples']
)
def test_a_corrupt_input_file_is_named(tmp_path, kind):
  options = _options(tmp_path)
  [path] = glob.glob(os.path.join(options.input_dir, '*.tfrecord*'))
  _corrupt(path, kind)
  with pytest.raises(local_runner.InputError) as error:
    local_runner.run(options)
  message = str(error.value)
  assert message.startswith(f'{path}: record ')
  assert 'export it again, or remove it' in message
  # Nothing after ingestion ran.
  for component in ('StatisticsGen', 'Transform', 'Trainer'):
    assert not os.path.exists(os.path.join(options.pipeline_root, component))
