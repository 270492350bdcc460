"""One run at a time per run directory: an advisory lock with its holder.

Two runs on the same `<save_base>/<run_name>` would share one MLMD store and
one serving directory; both could train, bless and push into the same
timestamp directory while MLMD records only one push. `hold(run_dir)` takes
an exclusive `flock` on `<run_dir>/.run.lock` for the duration of a run and
writes who holds it; a second run refuses at once, naming the holder's PID,
start time and command. The kernel drops the lock when the holder exits,
however it exits (SIGKILL included), so a killed run never leaves a stale
lock behind.
"""

import contextlib
import datetime
import fcntl
import json
import os
import sys
from typing import Iterator

LOCK_FILENAME = '.run.lock'


class RunLockedError(RuntimeError):
  """Another run holds the run directory."""


def _holder_text(path: str) -> str:
  try:
    with open(path) as f:
      holder = json.load(f)
  except (OSError, ValueError):
    return 'another process (its details are unreadable)'
  return (
    f'PID {holder.get("pid")} since {holder.get("started")} '
    f'({holder.get("command")})'
  )


@contextlib.contextmanager
def hold(run_dir: str) -> Iterator[str]:
  """Holds the run directory's lock for the body of the `with`.

  Args:
    run_dir: the run directory (created if missing).

  Yields:
    The lock file's path.

  Raises:
    RunLockedError: another live process holds the lock.
  """
  os.makedirs(run_dir, exist_ok=True)
  path = os.path.join(run_dir, LOCK_FILENAME)
  # Opened without truncating: the holder's details stay readable until
  # this process owns the lock.
  handle = open(path, 'a+')  # Closed (and so unlocked) in the finally.
  try:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise RunLockedError(
        f'{run_dir} is in use by another run: {_holder_text(path)}. Wait '
        'for it to finish, or choose another --run_name.'
      ) from None
    handle.seek(0)
    handle.truncate()
    json.dump(
      {
        'pid': os.getpid(),
        'started': datetime.datetime.now().isoformat(timespec='seconds'),
        'command': ' '.join(sys.argv),
      },
      handle,
    )
    handle.flush()
    yield path
  finally:
    handle.close()  # Releases the lock.
