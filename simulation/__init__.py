"""Simulated particle-display aptamer selections with known ground truth.

Library use:

  from simulation import SimulationConfig, simulate, write_dataset
  result = simulate(SimulationConfig(num_families=200, seed=1))
  write_dataset(result, '/tmp/dataset')

Command line: `python -m simulation --output_dir DIR` (see simulation/cli.py).
"""

from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError
from simulation.simulator import SimulationResult
from simulation.simulator import simulate
from simulation.writer import write_dataset

__all__ = [
  'SimulationConfig',
  'SimulationConfigError',
  'SimulationResult',
  'simulate',
  'write_dataset',
]
