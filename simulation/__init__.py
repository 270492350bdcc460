"""Simulated particle-display aptamer selections with known ground truth.

Library use:

  from simulation import SimulationConfig, simulate, write_dataset
  result = simulate(SimulationConfig(num_families=200, seed=1))
  write_dataset(result, '/tmp/dataset')

  from simulation import scenarios
  result = simulate(scenarios.configure('selex', num_families=200))

Command line: `python -m simulation [--scenario NAME] --output_dir DIR` (see
simulation/cli.py).
"""

from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError
from simulation.rounds import RoundSpec
from simulation.scenarios import SCENARIOS
from simulation.simulator import SimulationResult
from simulation.simulator import simulate
from simulation.unseen import UNSEEN_COLUMNS
from simulation.unseen import UNSEEN_FILENAME
from simulation.writer import write_dataset

__all__ = [
  'RoundSpec',
  'SCENARIOS',
  'SimulationConfig',
  'SimulationConfigError',
  'SimulationResult',
  'UNSEEN_COLUMNS',
  'UNSEEN_FILENAME',
  'simulate',
  'write_dataset',
]
