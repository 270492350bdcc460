"""Test image size, build time and container start-up (podman).

Measures, for the image that kubeflow/test_image/build.sh builds:

  * size: `podman image inspect` Size, in MB (10^6 bytes);
  * build: wall seconds of build.sh (a reuse when its inputs are unchanged;
    --skip_build leaves it out and needs --image);
  * start-up, each --repeats times in a fresh container (`podman run --rm
    --network none`), seconds from launching `podman run` to:
      - `python -c pass` exiting (the bare container + interpreter cost);
      - the first line that
        `python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor
        --help` prints (on either stream; TensorFlow's import logs come first),
        to its usage line, and to its exit.

Prints a markdown table (median, min, max of the repeats).

Usage:
  python benchmarks/image_startup.py [--repeats 5] [--image REF] [--skip_build]
"""

import argparse
import os
import selectors
import statistics
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BUILD_SCRIPT = os.path.join(_ROOT, 'kubeflow', 'test_image', 'build.sh')
_PODMAN = ('podman', '--runtime', 'runc')
_RUN = (
  *_PODMAN,
  'run',
  '--rm',
  '--network',
  'none',
  '--ulimit',
  'nofile=20000:20000',
  '--ulimit',
  'nproc=32768:32768',
)
_EXECUTOR_MODULE = (
  'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'
)


def _parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument(
    '--repeats',
    type=int,
    default=5,
    help='fresh containers per start-up measurement (default 5)',
  )
  parser.add_argument(
    '--image',
    help='image reference to measure (default: the one build.sh prints)',
  )
  parser.add_argument(
    '--skip_build',
    action='store_true',
    help='do not run build.sh (then --image is required)',
  )
  args = parser.parse_args(argv)
  if args.repeats < 1:
    parser.error(f'--repeats must be at least 1, got {args.repeats}')
  if args.skip_build and not args.image:
    parser.error('--skip_build needs --image')
  return args


def _build():
  """Runs build.sh; returns (image reference, wall seconds)."""
  start = time.perf_counter()
  result = subprocess.run(
    [_BUILD_SCRIPT], stdout=subprocess.PIPE, text=True, check=False
  )
  seconds = time.perf_counter() - start
  if result.returncode != 0:
    sys.exit(f'{_BUILD_SCRIPT} failed with exit status {result.returncode}')
  return result.stdout.strip().splitlines()[-1], seconds


def _image_megabytes(image):
  result = subprocess.run(
    [*_PODMAN, 'image', 'inspect', '--format', '{{.Size}}', image],
    capture_output=True,
    text=True,
    check=False,
  )
  if result.returncode != 0:
    sys.exit(f'podman image inspect {image}: {result.stderr.strip()}')
  return int(result.stdout.strip()) / 1e6


def _time_exit(image, command):
  """Seconds from launching the container to its exit (exit status 0)."""
  start = time.perf_counter()
  result = subprocess.run(
    [*_RUN, image, *command], capture_output=True, text=True, check=False
  )
  seconds = time.perf_counter() - start
  if result.returncode != 0:
    sys.exit(f'{command} failed in {image}:\n{result.stderr[-2000:]}')
  return seconds


def _time_lines(image, command, marker):
  """Seconds to the first output line, to a line with `marker`, to exit."""
  start = time.perf_counter()
  process = subprocess.Popen(
    [*_RUN, image, *command],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
  )
  selector = selectors.DefaultSelector()
  selector.register(process.stdout, selectors.EVENT_READ)
  selector.register(process.stderr, selectors.EVENT_READ)
  first = marked = None
  output = b''
  open_streams = 2
  while open_streams:
    for key, _ in selector.select():
      chunk = os.read(key.fileobj.fileno(), 65536)
      if not chunk:
        selector.unregister(key.fileobj)
        open_streams -= 1
        continue
      now = time.perf_counter() - start
      output += chunk
      if first is None and b'\n' in output:
        first = now
      if marked is None and marker in output:
        marked = now
  status = process.wait()
  exited = time.perf_counter() - start
  if status != 0 or marked is None:
    sys.exit(
      f'{command} in {image}: exit status {status}, '
      f'{marker!r} printed: {marked is not None}\n{output[-2000:]!r}'
    )
  return first, marked, exited


def _row(name, samples):
  return (
    f'| {name} | {statistics.median(samples):.2f} | {min(samples):.2f} '
    f'| {max(samples):.2f} |'
  )


def main(argv=None):
  args = _parse_args(argv)
  build_seconds = None
  image = args.image
  if not args.skip_build:
    built, build_seconds = _build()
    image = image or built
  megabytes = _image_megabytes(image)

  bare = []
  first_line, usage_line, executor_exit = [], [], []
  for _ in range(args.repeats):
    bare.append(_time_exit(image, ['python', '-c', 'pass']))
    first, usage, exited = _time_lines(
      image, ['python', '-m', _EXECUTOR_MODULE, '--help'], b'usage:'
    )
    first_line.append(first)
    usage_line.append(usage)
    executor_exit.append(exited)

  print(f'Image `{image}`: {megabytes:.0f} MB')
  if build_seconds is not None:
    print(f'build.sh: {build_seconds:.1f} s')
  print()
  print(f'Start-up, seconds from `podman run` ({args.repeats} containers):')
  print()
  print('| measurement | median | min | max |')
  print('|---|---|---|---|')
  print(_row('`python -c pass`, exit', bare))
  print(_row('executor `--help`, first line', first_line))
  print(_row('executor `--help`, usage line', usage_line))
  print(_row('executor `--help`, exit', executor_exit))
  print()
  print(f'load average: {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
  main()
