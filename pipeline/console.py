"""Routes a local run's output: a short console, the full log in a file.

By default (verbosity 0) the console shows what a person follows a run by:
a line when each component starts and one when it finishes (its seconds, or
`cached`), a heartbeat line while a long one runs, and whatever the
components print() (the Trainer's one-line-per-split epoch table, the
result block). Every Python `logging` record (TFX, Beam, TensorFlow and
absl all log through it) goes to `<run dir>/logs/run.log` instead, and only errors also reach the
console. With verbosity 1 the records stay on the console as well, as
before; 2 and more also keep absl's DEBUG level (`--verbosity` is absl's
own flag, where 1 means DEBUG; here the run logs at INFO up to 1).

LocalDagRunner (TFX 1.16) has no callback API, so the component lines come
from its own log records, matched by their format strings: `Component %s is
running.` / `is finished.` / `Skipping component %s.` in
tfx/orchestration/local/local_dag_runner.py, `A cached execution %d is
used.` and `Skipping execution for %s` in tfx/orchestration/portable/
launcher.py. tests/console_test.py checks the installed TFX still logs them.

TensorFlow's and gRPC's C++ code writes to stderr itself, not through
`logging`. They read their log levels from the environment once, when they
load, so `prepare_process` must run before anything imports TensorFlow:
importing this module runs it with sys.argv, and pipeline/local_runner.py
imports it first.
"""

import contextlib
import datetime
import logging
import os
import re
import shlex
import sys
import threading
import time
from typing import Callable
from typing import Iterator
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
import warnings

from absl import logging as absl_logging

LOG_DIRNAME = 'logs'
LOG_FILENAME = 'run.log'

# Environment of a quiet console (values already set win).
QUIET_ENV = {
  # TensorFlow and XLA (tsl logging): 3 drops INFO, WARNING and ERROR lines,
  # among them the "Unable to register cuFFT/cuDNN/cuBLAS factory" errors
  # each import prints and the "Local rendezvous is aborting" warnings of
  # every epoch. FATAL still shows.
  'TF_CPP_MIN_LOG_LEVEL': '3',
  # gRPC's C core (Beam's Fn API): errors only, no `I0000 ... fork_posix.cc`.
  'GRPC_VERBOSITY': 'ERROR',
  # Child processes (Beam's multi_processing workers) import the Google
  # client libraries again: without their import-time FutureWarnings.
  'PYTHONWARNINGS': ','.join(
    f'ignore::FutureWarning:{module}'
    for module in (
      'google.api_core._python_version_support',
      'google.cloud.aiplatform.models',
    )
  ),
}

# tfx.orchestration's record templates (TFX 1.16, see the module docstring).
STARTED = 'Component %s is running.'
FINISHED = 'Component %s is finished.'
SKIPPED = 'Skipping component %s.'
CACHED = 'A cached execution %d is used.'
NOT_TRIGGERED = 'Skipping execution for %s'

# The first heartbeat of a running component; then at doubling intervals.
HEARTBEAT_S = 30.0
MAX_HEARTBEAT_INTERVAL_S = 600.0

_held_warnings: List[str] = []
_showwarning_before_hold = None


def log_path(run_dir: str) -> str:
  """Where `routed` writes the full log of a run in `run_dir`."""
  return os.path.join(run_dir, LOG_DIRNAME, LOG_FILENAME)


def argv_verbosity(argv: Sequence[str]) -> int:
  """The `--verbosity` (`-v`) an absl command line gives, 0 if none."""
  args = list(argv[1:])
  value = '0'
  for i, arg in enumerate(args):
    if arg == '--':
      break
    match = re.fullmatch(r'--?(?:verbosity|v)(?:=(.*))?', arg)
    if match:
      given = match.group(1)
      value = given if given is not None else ''.join(args[i + 1 : i + 2])
  try:
    return int(value)
  except ValueError:
    return 0


def prepare_process(argv: Sequence[str]) -> None:
  """Quiets native logging and holds early Python warnings, unless verbose.

  Call it before anything imports TensorFlow. It sets `QUIET_ENV`
  (child processes such as Beam workers inherit it), and holds the Python
  warnings raised until `routed` starts (the Google client libraries'
  FutureWarnings at import, ...), which `routed` then writes to the run's
  log. With `--verbosity` 1 or more in `argv`, it does nothing.

  Args:
    argv: the command line (sys.argv).
  """
  global _showwarning_before_hold
  if argv_verbosity(argv) > 0:
    return
  for name, value in QUIET_ENV.items():
    os.environ.setdefault(name, value)
  if _showwarning_before_hold is None:
    _showwarning_before_hold = warnings.showwarning
    warnings.showwarning = _hold_warning


def _hold_warning(message, category, filename, lineno, file=None, line=None):
  del file  # Held, not written.
  text = warnings.formatwarning(message, category, filename, lineno, line)
  _held_warnings.append(text.rstrip())


def _release_held_warnings() -> List[str]:
  """Stops holding warnings; returns the held ones."""
  global _showwarning_before_hold
  if _showwarning_before_hold is not None:
    if warnings.showwarning is _hold_warning:
      warnings.showwarning = _showwarning_before_hold
    _showwarning_before_hold = None
  held = list(_held_warnings)
  del _held_warnings[:]
  return held


def _print_line(line: str) -> None:
  """One console line on the current stdout, flushed (stdout may be a pipe)."""
  sys.stdout.write(line + '\n')
  sys.stdout.flush()


def _duration(seconds: float, digits: int = 1) -> str:
  if seconds < 600:
    return f'{seconds:.{digits}f} s'
  return f'{seconds / 60:.1f} min'


class ComponentProgress(logging.Handler):
  """Prints a console line when a component starts and when it finishes.

  Reads TFX's own records (see the module docstring). While a component
  runs, `beat()` (which `routed` calls every second) prints `  Id  still
  running, 30 s` at `heartbeat_s`, then at doubling intervals of at most
  `MAX_HEARTBEAT_INTERVAL_S` (30 s, 60 s, 120 s, ... 960 s, then every 10
  min), so a long Beam step shows it is alive without flooding the console.

  Args:
    heartbeat_s: seconds before a running component's first heartbeat.
    echo_errors: also write ERROR and worse records to stderr (when the
      console handlers are detached).
    write: prints one console line; default: to sys.stdout.
    clock: seconds, monotonic.
  """

  def __init__(
    self,
    heartbeat_s: float = HEARTBEAT_S,
    echo_errors: bool = False,
    write: Optional[Callable[[str], None]] = None,
    clock: Callable[[], float] = time.monotonic,
  ):
    super().__init__()
    self._heartbeat_s = heartbeat_s
    self._echo_errors = echo_errors
    self._write = write or _print_line
    self._clock = clock
    self._state = threading.Lock()
    self._current: Optional[str] = None
    self._start = 0.0
    self._next_beat = 0.0
    self._cached = False
    self._not_triggered = False

  def emit(self, record: logging.LogRecord) -> None:
    args = record.args if isinstance(record.args, tuple) else ()
    template = record.msg
    if template == STARTED and args:
      self.started(str(args[0]))
    elif template == FINISHED and args:
      self.finished(str(args[0]))
    elif template == SKIPPED and args:
      self._write(f'  {args[0]}  skipped')
    elif template == CACHED:
      with self._state:
        self._cached = True
    elif template == NOT_TRIGGERED:
      with self._state:
        self._not_triggered = True
    elif self._echo_errors and record.levelno >= logging.ERROR:
      sys.stderr.write(self.format(record) + '\n')
      sys.stderr.flush()

  def started(self, component_id: str) -> None:
    now = self._clock()
    with self._state:
      self._current = component_id
      self._start = now
      self._next_beat = now + self._heartbeat_s
      self._cached = self._not_triggered = False
    self._write(f'  {component_id}  started')

  def finished(self, component_id: str) -> None:
    now = self._clock()
    with self._state:
      elapsed = now - self._start
      cached, not_triggered = self._cached, self._not_triggered
      self._current = None
    if cached:
      status = 'cached'
    elif not_triggered:
      status = 'skipped (its inputs were not met)'
    else:
      status = f'finished in {_duration(elapsed)}'
    self._write(f'  {component_id}  {status}')

  def beat(self) -> None:
    """Prints a heartbeat line if the running component is due one."""
    now = self._clock()
    with self._state:
      if self._current is None or now < self._next_beat:
        return
      component_id, elapsed = self._current, now - self._start
      due = self._next_beat - self._start
      self._next_beat += min(due, MAX_HEARTBEAT_INTERVAL_S)
    self._write(f'  {component_id}  still running, {_duration(elapsed, 0)}')

  def interrupted(self) -> None:
    """Prints that the running component (if any) failed."""
    with self._state:
      component_id, elapsed = self._current, self._clock() - self._start
      self._current = None
    if component_id is not None:
      self._write(f'  {component_id}  failed after {_duration(elapsed)}')


class _RunLogHandler(logging.FileHandler):
  """Appends to the run's log, opened (with a header) at the first record.

  So a run that fails before logging anything (a mistyped flag) leaves no
  directory behind.
  """

  def __init__(self, path: str, header: str):
    super().__init__(path, mode='a', encoding='utf-8', delay=True)
    self._header = header

  def _open(self):
    os.makedirs(os.path.dirname(self.baseFilename), exist_ok=True)
    stream = super()._open()
    stream.write(self._header + '\n')
    return stream


def _is_console_handler(handler: logging.Handler) -> bool:
  # absl's handler (installed by app.run) and plain StreamHandlers such as
  # TensorFlow's own; subclasses (files, pytest's capture) are left alone.
  return isinstance(handler, absl_logging.ABSLHandler) or type(handler) in (
    logging.StreamHandler,
    absl_logging.PythonHandler,
  )


def _detach_console_handlers() -> List[Tuple[logging.Logger, logging.Handler]]:
  """Removes the handlers that print records; returns them to restore."""
  loggers = [logging.getLogger()] + [
    logger
    for logger in list(logging.Logger.manager.loggerDict.values())
    if isinstance(logger, logging.Logger)
  ]
  detached = []
  for logger in loggers:
    for handler in list(logger.handlers):
      if _is_console_handler(handler):
        logger.removeHandler(handler)
        detached.append((logger, handler))
  return detached


def _heartbeats(progress: ComponentProgress, stop: threading.Event, poll_s):
  while not stop.wait(poll_s):
    progress.beat()


@contextlib.contextmanager
def routed(
  run_dir: str,
  verbosity: int = 0,
  heartbeat_s: float = HEARTBEAT_S,
  command: Optional[str] = None,
) -> Iterator[str]:
  """Routes the logging of one run; yields the path of its log file.

  Inside: every record at INFO and above (DEBUG too from verbosity 2) is
  appended to `log_path(run_dir)`, which starts with a header line (time,
  command line, then the warnings `prepare_process` held) and is created
  at the first record; Python warnings are logged too. Component lines and heartbeats go to stdout. With verbosity
  0 the console handlers (absl's, TensorFlow's) are detached, and only
  ERROR records also reach stderr. On the way out everything is restored,
  and `  full log: <path>` is printed, also when the run failed (its
  traceback is then in the log too).

  Args:
    run_dir: the run's directory (`<save_base>/<run_name>`).
    verbosity: 0: a line per component on the console; 1: all records on
      the console as well; 2 and more: DEBUG records as well.
    heartbeat_s: seconds before a running component's first heartbeat.
    command: the header's command line; default: this process's.
  """
  path = log_path(run_dir)
  command = command or shlex.join(getattr(sys, 'orig_argv', sys.argv))
  now = datetime.datetime.now().isoformat(sep=' ', timespec='seconds')
  header = [f'==== {now}  {command}']
  held = _release_held_warnings()
  if held:
    header += ['Python warnings before the run:', *held]
  file_handler = _RunLogHandler(path, '\n'.join(header))
  file_handler.setFormatter(absl_logging.PythonFormatter())
  progress = ComponentProgress(heartbeat_s, echo_errors=verbosity <= 0)
  progress.setFormatter(absl_logging.PythonFormatter())
  root = logging.getLogger()
  absl_logger = logging.getLogger('absl')
  levels = root.level, absl_logger.level, absl_logging.get_verbosity()
  detached = _detach_console_handlers() if verbosity <= 0 else []
  root.addHandler(file_handler)
  root.addHandler(progress)
  # Through absl's flag too: TensorFlow's SavedModel export sets it to
  # FATAL and back to the flag's value, which must be this level then.
  absl_logging.set_verbosity(
    absl_logging.INFO if verbosity <= 1 else absl_logging.DEBUG
  )
  root.setLevel(logging.INFO if verbosity <= 1 else logging.DEBUG)
  absl_logger.setLevel(logging.NOTSET)
  logging.captureWarnings(True)
  stop = threading.Event()
  heartbeats = threading.Thread(
    target=_heartbeats,
    args=(progress, stop, min(1.0, heartbeat_s / 4)),
    name='console-heartbeats',
    daemon=True,
  )
  heartbeats.start()
  try:
    yield path
  except BaseException:
    progress.interrupted()
    failure = logging.LogRecord(
      __name__,
      logging.ERROR,
      __file__,
      0,
      'The run failed.',
      (),
      sys.exc_info(),
    )
    file_handler.handle(failure)
    raise
  finally:
    stop.set()
    heartbeats.join()
    logging.captureWarnings(False)
    root.removeHandler(progress)
    root.removeHandler(file_handler)
    file_handler.close()
    for logger, handler in detached:
      logger.addHandler(handler)
    absl_logging.set_verbosity(levels[2])
    root.setLevel(levels[0])
    absl_logger.setLevel(levels[1])
    if os.path.exists(path):
      _print_line(f'  {"full log:":<20}{path}')


# The local runner imports this module before anything imports TensorFlow,
# the one moment the native log levels can still be set.
prepare_process(sys.argv)
