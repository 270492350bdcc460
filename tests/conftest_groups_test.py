"""conftest.SCHEDULING_GROUPS lists every module that shares a resource.

A module that uses the demo runs or the container image but is missing
from the table would still pass, on another worker, after building the
resource a second time (or building the image concurrently with another
worker): slower CI, not a failure. This keeps the table honest.
"""

import glob
import os
import re

import conftest

_TESTS = os.path.dirname(os.path.abspath(__file__))
_USES = {
  'demo_runs': re.compile(r'\b(demo_runs|pushed_demo_model)\b'),
  'container_image': re.compile(
    r'\btest_image\.build\(|^import test_image', re.M
  ),
}


def _modules_using(pattern):
  found = set()
  for path in glob.glob(os.path.join(_TESTS, '*_test.py')):
    with open(path) as f:
      if pattern.search(f.read()):
        found.add(os.path.basename(path))
  return found


def test_every_module_of_a_shared_resource_is_in_its_group():
  for group, pattern in _USES.items():
    using = _modules_using(pattern) - {os.path.basename(__file__)}
    listed = {m for m, g in conftest.SCHEDULING_GROUPS.items() if g == group}
    assert using == listed, (group, sorted(using ^ listed))
