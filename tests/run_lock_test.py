"""The run-directory lock, held and contested by real processes."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from pipeline import run_lock

_HOLDER = textwrap.dedent(
  """
  import sys, time
  from pipeline import run_lock
  with run_lock.hold(sys.argv[1]):
    print('held', flush=True)
    time.sleep(60)
  """
)


def start_holder(run_dir):
  """A real process holding `run_dir`'s lock (the caller kills it)."""
  process = subprocess.Popen(
    [sys.executable, '-c', _HOLDER, run_dir],
    stdout=subprocess.PIPE,
    text=True,
    cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
  )
  assert process.stdout.readline().strip() == 'held'
  return process


def test_a_second_run_is_refused_with_the_holders_pid(tmp_path):
  run_dir = str(tmp_path / 'run')
  holder = start_holder(run_dir)
  try:
    with pytest.raises(run_lock.RunLockedError) as error:
      with run_lock.hold(run_dir):
        pass
    message = str(error.value)
    assert f'PID {holder.pid} since ' in message
    assert 'in use by another run' in message and '--run_name' in message
  finally:
    holder.kill()
    holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
  run_dir = str(tmp_path / 'run')
  holder = start_holder(run_dir)
  holder.kill()  # SIGKILL: no clean-up code runs.
  holder.wait()
  deadline = time.monotonic() + 10
  while True:
    try:
      with run_lock.hold(run_dir) as path:
        assert os.path.exists(path)
      break
    except run_lock.RunLockedError:
      assert time.monotonic() < deadline, 'lock not released after SIGKILL'
      time.sleep(0.05)


def test_the_lock_records_this_process_and_is_reentrant_after_release(
  tmp_path,
):
  run_dir = str(tmp_path / 'run')
  with run_lock.hold(run_dir) as path:
    with open(path) as f:
      assert f'"pid": {os.getpid()}' in f.read()
  with run_lock.hold(run_dir):
    pass
