"""Beam worker modules import neither TensorFlow nor TFX.

Each Beam worker imports the modules of the functions it unpickles; these
modules are kept free of TensorFlow and TFX, whose imports cost a worker
several seconds at every start (benchmarks/RESULTS.md).
"""

import subprocess
import sys

import pytest

WORKER_MODULES = [
  'components.features.structure.worker_functions',
  'components.data.fastq_example_gen.worker_functions',
  'components.data.contract_rules',
  'components.data.split_writing',
]


@pytest.mark.parametrize('module', WORKER_MODULES)
def test_worker_module_imports_neither_tensorflow_nor_tfx(module):
  code = (
    'import sys\n'
    f'import {module}\n'
    "print(sorted(m for m in ('tensorflow', 'tfx') if m in sys.modules))\n"
  )
  out = subprocess.run(
    [sys.executable, '-c', code], capture_output=True, text=True, check=True
  )
  assert out.stdout.strip() == '[]'
