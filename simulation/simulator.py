"""`simulate(config)`: library -> energies -> sorts -> read counts.

Every random stage draws from its own stream, spawned from the seed, so the
output is a pure function of the config (same config and seed, same
counts) and changing one stage's parameters leaves the others' draws alone.
"""

import dataclasses
from typing import Dict
from typing import List
from typing import Tuple

import numpy as np

from schema import experiment as experiment_lib
from simulation import binding
from simulation import design
from simulation import library as library_lib
from simulation import selection
from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError


@dataclasses.dataclass(frozen=True)
class SimulationResult:
  """A simulated experiment, over every library member.

  Attributes:
    config: the configuration that produced it.
    experiment: the validated `Experiment` proto.
    sequences: library members as strings, family by family, parent first.
    cluster: [num_members] int64 family id, from 1.
    is_parent: [num_members] bool.
    target_dg: [num_members] true log10 Kd for the target.
    serum_dg: [num_members] true log10 Kd for serum.
    counts: read name -> [num_members] int64 read counts, for every read
      name of the experiment.
    sorts: round name -> the bead sort of that round.
  """

  config: SimulationConfig
  experiment: object
  sequences: Tuple[str, ...]
  cluster: np.ndarray
  is_parent: np.ndarray
  target_dg: np.ndarray
  serum_dg: np.ndarray
  counts: Dict[str, np.ndarray]
  sorts: Dict[str, selection.SortResult]

  @property
  def target_kd(self) -> np.ndarray:
    return 10.0**self.target_dg

  @property
  def serum_kd(self) -> np.ndarray:
    return 10.0**self.serum_dg

  @property
  def count_names(self) -> List[str]:
    return experiment_lib.all_count_names(self.experiment)

  @property
  def observed(self) -> np.ndarray:
    """Members with a read in any column: the ones a dataset holds."""
    return np.any([self.counts[n] > 0 for n in self.count_names], axis=0)


def simulate(config: SimulationConfig | None = None) -> SimulationResult:
  """Runs the whole simulated experiment.

  Args:
    config: the parameters; None for the defaults.

  Returns:
    The SimulationResult.

  Raises:
    SimulationConfigError: a parameter is invalid, or the design selects
      nothing in round 1.
  """
  config = config or SimulationConfig()
  config.validate(binding.min_sequence_length())
  experiment = design.build_experiment(config)
  lib_seed, bind_seed, pool_seed, round1_seed, round2_seed = (
    np.random.SeedSequence(config.seed).spawn(5)
  )

  lib = library_lib.make_library(
    config.num_families,
    config.mutants_per_family,
    config.max_mutations,
    config.sequence_length,
    config.motif_fraction,
    np.random.default_rng(lib_seed),
  )
  target_dg, serum_dg = binding.binding_energies(
    lib.sequences,
    np.random.default_rng(bind_seed),
    config.target_dg_mean,
    config.serum_dg_mean,
    config.binding_noise_scale,
    config.binding_energy_correlation,
  )
  target_kd, serum_kd = 10.0**target_dg, 10.0**serum_dg
  num_members = len(lib.sequences)
  num_beads = int(round(config.beads_per_sequence * num_members))

  # Synthesis bias and the sequence-specific PCR efficiency are properties
  # of the library, shared by every pool.
  rng = np.random.default_rng(pool_seed)
  abundance = rng.lognormal(0.0, config.library_abundance_sigma, num_members)
  efficiency = selection.pcr_efficiency(
    num_members, config.pcr_efficiency_mean, config.pcr_efficiency_shape, rng
  )
  counts = {}
  counts[design.LIBRARY_ROUND] = _read(abundance, efficiency, config, rng)

  rng = np.random.default_rng(round1_seed)
  round1 = selection.particle_display(
    abundance,
    binding.target_occupancy(
      target_kd, serum_kd, config.round1_concentration, 0.0
    ),
    num_beads,
    config.gate,
    config.fluorescence_noise,
    config.sort_impurity,
    rng,
  )
  if not round1.collected:
    raise SimulationConfigError(
      'round1 collected no beads: raise round1_concentration, '
      'beads_per_sequence or sort_impurity, or lower the gate'
    )
  round1_pool = selection.amplify(
    round1.positive, efficiency, config.pcr_cycles, rng
  )
  sorts = {design.ROUND1: round1}

  sort_list = design.round2_sorts(config)
  for sort, seed in zip(sort_list, round2_seed.spawn(len(sort_list))):
    rng = np.random.default_rng(seed)
    theta = binding.target_occupancy(
      target_kd,
      serum_kd,
      sort.target_concentration,
      sort.serum_concentration,
    )
    result = selection.particle_display(
      round1_pool,
      theta,
      num_beads,
      config.gate,
      config.fluorescence_noise,
      config.sort_impurity,
      rng,
    )
    sorts[sort.round_name] = result
    counts[sort.positive_read] = _read(result.positive, efficiency, config, rng)
    if sort.negative_read:
      counts[sort.negative_read] = _read(
        result.negative, efficiency, config, rng
      )

  return SimulationResult(
    config=config,
    experiment=experiment,
    sequences=lib.sequences,
    cluster=lib.cluster,
    is_parent=lib.is_parent,
    target_dg=target_dg,
    serum_dg=serum_dg,
    counts=counts,
    sorts=sorts,
  )


def _read(templates, efficiency, config, rng):
  """PCR-amplifies a pool and sequences it at the configured depth."""
  amplified = selection.amplify(templates, efficiency, config.pcr_cycles, rng)
  return selection.sequence(amplified, config.depth, rng)
