"""Shared pytest setup."""

import os

from absl import flags
import demo_runs as demo_runs_lib
import pytest

# Quieter TF logs; set before TensorFlow is imported by any test module.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# absl flags are parsed by app.run() in the runners; tests call functions.
flags.FLAGS.mark_as_parsed()


@pytest.fixture(scope='session')
def demo_runs(tmp_path_factory):
  """The demo pipeline's three runs (tests/demo_runs.py), once per session."""
  return demo_runs_lib.record_demo_runs(str(tmp_path_factory.mktemp('runs')))


@pytest.fixture(scope='session')
def pushed_demo_model(request):
  """The SavedModel directory the demo's first run pushed.

  Set APTAMER_TFX_TEST_MODEL to an existing SavedModel to iterate on tests
  that only score without training first (CI never sets it).
  """
  existing = os.environ.get('APTAMER_TFX_TEST_MODEL')
  if existing:
    return existing
  return request.getfixturevalue('demo_runs')['first'].latest_pushed
