"""The Kubeflow test image, as the container tests build and run it.

`kubeflow/test_image/build.sh` builds (or reuses) the image; podman runs it
with the runc runtime and explicit ulimits (this kind of VM's quirks) and
no network, so no task can download anything.
"""

import os
import subprocess

import pytest

from pipeline import configs

BUILD_SCRIPT = os.path.join(
  configs.REPO_ROOT, 'kubeflow', 'test_image', 'build.sh'
)
# build.sh's exit status when no container engine can be installed or run.
NO_ENGINE_STATUS = 3
ENGINE = ('podman', '--runtime', 'runc')
RUN_ARGS = (
  '--network=none',
  '--ulimit',
  'nofile=20000:20000',
  '--ulimit',
  'nproc=32768:32768',
)


def build() -> str:
  """The image's reference; skips only when no engine can run here."""
  result = subprocess.run(
    ['bash', BUILD_SCRIPT],
    capture_output=True,
    text=True,
    check=False,
    timeout=3600,
  )
  if result.returncode == NO_ENGINE_STATUS:
    pytest.skip(
      'no container engine can be installed or run here: '
      + result.stderr.strip().splitlines()[-1]
    )
  assert result.returncode == 0, (
    f'{BUILD_SCRIPT} failed ({result.returncode}):\n{result.stderr[-4000:]}'
  )
  return result.stdout.strip().splitlines()[-1]
