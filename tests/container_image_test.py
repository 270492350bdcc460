"""The pipeline's test image runs what a Kubeflow task runs.

kubeflow/test_image/build.sh builds (or reuses) the local twin of
kubeflow/Dockerfile; these tests start containers of it with podman, as a
Kubeflow task would: `python` on PATH, the pinned TFX, TensorFlow and
ViennaRNA, the repository's packages from /pipeline, the KFP v2 executor
entry point, and a read-write bind mount for the pipeline root.

The build takes many minutes the first time (a few seconds when reused).
The tests skip only when build.sh reports (exit status 3) that no container
engine can be installed or run here.
"""

import json
import os
import subprocess
import uuid

import pytest
import test_image

from pipeline import configs

_EXECUTOR_MODULE = (
  'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'
)
_PINNED = ('tfx', 'tensorflow', 'viennarna', 'apache-beam', 'kfp')
_REPO_PACKAGES = ('components', 'pipeline', 'tools', 'schema', 'simulation')

pytestmark = pytest.mark.e2e


def _constraint_versions():
  """Pinned versions from constraints.txt, keyed by lower-case name."""
  versions = {}
  path = os.path.join(configs.REPO_ROOT, 'constraints.txt')
  with open(path) as constraints:
    for line in constraints:
      line = line.split('#', 1)[0].strip()
      if '==' in line:
        name, version = line.split('==', 1)
        versions[name.strip().lower()] = version.strip()
  return versions


@pytest.fixture(scope='module')
def image():
  """The test image's reference, built or reused by build.sh."""
  return test_image.build()


def _run_in(image, *command, mounts=()):
  """Runs `command` in a fresh container without network; returns the result."""
  volumes = []
  for host_dir, container_dir in mounts:
    volumes += ['--volume', f'{host_dir}:{container_dir}:rw']
  return subprocess.run(
    [*test_image.ENGINE, 'run', '--rm', *test_image.RUN_ARGS, *volumes]
    + [image, *command],
    capture_output=True,
    text=True,
    check=False,
    timeout=600,
  )


def test_imports_pinned_stack_and_repo_packages(image):
  script = (
    'import importlib, importlib.metadata as md, json, shutil, sys\n'
    'import RNA, tensorflow, tfx\n'
    f'repo = {list(_REPO_PACKAGES)!r}\n'
    f'pinned = {list(_PINNED)!r}\n'
    'print(json.dumps({\n'
    '  "python": shutil.which("python"),\n'
    '  "version": list(sys.version_info[:2]),\n'
    '  "versions": {name: md.version(name) for name in pinned},\n'
    '  "rna_fold": RNA.fold("GGGGAAAACCCC")[0],\n'
    '  "files": {p: importlib.import_module(p).__file__ for p in repo},\n'
    '}))\n'
  )
  result = _run_in(image, 'python', '-c', script)
  assert result.returncode == 0, result.stderr[-4000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])

  assert report['python'] is not None
  assert report['version'] == [3, 10]
  pins = _constraint_versions()
  assert report['versions'] == {name: pins[name] for name in _PINNED}
  assert len(report['rna_fold']) == len('GGGGAAAACCCC')
  # PYTHONPATH=/pipeline: the dotted UDF paths resolve to the copied sources.
  assert report['files'] == {
    package: f'/pipeline/{package}/__init__.py' for package in _REPO_PACKAGES
  }


def test_kubeflow_v2_executor_entry_point_runs(image):
  result = _run_in(image, 'python', '-m', _EXECUTOR_MODULE, '--help')
  assert result.returncode == 0, result.stderr[-4000:]
  usage = result.stdout + result.stderr
  assert '--executor_class_path' in usage
  assert '--json_serialized_invocation_args' in usage


def test_bind_mounted_directory_is_read_write(image, tmp_path):
  token = uuid.uuid4().hex
  (tmp_path / 'from_host.txt').write_text(token)
  script = (
    'import pathlib, sys\n'
    'root = pathlib.Path("/pipeline_root")\n'
    'seen = (root / "from_host.txt").read_text()\n'
    'out = root / "nested" / "from_container.txt"\n'
    'out.parent.mkdir()\n'
    'out.write_text(seen[::-1] + " " + sys.version.split()[0])\n'
  )
  result = _run_in(
    image, 'python', '-c', script, mounts=[(tmp_path, '/pipeline_root')]
  )
  assert result.returncode == 0, result.stderr[-4000:]

  written = (tmp_path / 'nested' / 'from_container.txt').read_text()
  reversed_token, version = written.split()
  assert reversed_token == token[::-1]
  assert version.startswith('3.10.')
