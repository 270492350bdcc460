"""Shared pytest setup."""

import os

from absl import flags
import demo_runs as demo_runs_lib
import pytest

# Quieter TF logs; set before TensorFlow is imported by any test module.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# absl flags are parsed by app.run() in the runners; tests call functions.
flags.FLAGS.mark_as_parsed()


# Test modules that share a costly resource run on one pytest-xdist worker
# (`make test` runs `-n 2 --dist loadscope`): the session's demo runs, and
# the container image. Any other module is a scope of its own, so its
# module fixtures are built once. conftest_groups_test.py checks that every
# module using these resources is listed.
SCHEDULING_GROUPS = {
  'container_image_test.py': 'container_image',
  'kfp_spec_execution_e2e_test.py': 'container_image',
  'designer_test.py': 'demo_runs',
  'pipeline_e2e_test.py': 'demo_runs',
  'scoring_test.py': 'demo_runs',
}


def pytest_xdist_make_scheduler(config, log):
  """LoadScope scheduling whose scopes are SCHEDULING_GROUPS, else modules.

  pytest-xdist's own `loadgroup` marks do not work with pytest 9 (xdist
  3.8 renames the node id through an attribute pytest 9 no longer reads),
  so the groups are made here, on the controller, from the node ids.
  """
  from xdist import scheduler  # pylint: disable=g-import-not-at-top

  class _GroupScheduling(scheduler.LoadScopeScheduling):
    def _split_scope(self, nodeid):
      module = nodeid.split('::', 1)[0]
      return SCHEDULING_GROUPS.get(os.path.basename(module), module)

  return _GroupScheduling(config, log)


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
