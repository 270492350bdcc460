"""`simulate(config)`: library -> energies -> selection rounds -> read counts.

Every random stage draws from its own stream, spawned from the seed, so the
output is a pure function of the config (same config and seed, same
counts) and changing one stage's parameters leaves the others' draws alone.
The rounds are walked generation by generation (distance from the library):
a round's input is its input round's amplified positive pool.
"""

import dataclasses
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

import numpy as np

from schema import experiment as experiment_lib
from simulation import binding
from simulation import design
from simulation import landscapes
from simulation import library as library_lib
from simulation import rounds as rounds_lib
from simulation import selection
from simulation import unseen as unseen_lib
from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError

# Child streams of SeedSequence(seed), by spawn key. The NGAL design's five
# (library, energies, pools, round 1, round 2) keep the keys they always had;
# generation g >= 1 of selection rounds draws from key 2 + g, so deeper
# designs continue at 5, 6, ...; the unseen set's streams sit far above, so
# no design moves them and they move nothing else.
_LIBRARY_STREAM = 0
_ENERGY_STREAM = 1
_POOL_STREAM = 2
_GENERATION_STREAM_OFFSET = 2
_UNSEEN_SEQUENCE_STREAM = 1000
_UNSEEN_TRUTH_STREAM = 1001


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
    sorts: round name -> the bead sort (SELEX: molecule partition) of
      that selection round.
    unseen: sequences outside the library with their true energies.
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
  unseen: Optional[unseen_lib.UnseenSet] = None

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
    SimulationConfigError: a parameter is invalid, or a round that feeds
      others selects nothing.
  """
  config = config or SimulationConfig()
  config.validate(binding.min_sequence_length())
  experiment = design.build_experiment(config)
  landscape = landscapes.from_config(config)

  lib = library_lib.make_library(
    config.num_families,
    config.mutants_per_family,
    config.max_mutations,
    config.sequence_length,
    config.motif_fraction,
    _rng(config.seed, _LIBRARY_STREAM),
  )
  target_dg, serum_dg = landscape.energies(
    lib.sequences, _rng(config.seed, _ENERGY_STREAM), config
  )
  counts, sorts = _select(config, target_dg, serum_dg)
  unseen = unseen_lib.draw_unseen(
    lib.codes,
    lib.sequences,
    target_dg,
    config,
    landscape,
    _rng(config.seed, _UNSEEN_SEQUENCE_STREAM),
    _rng(config.seed, _UNSEEN_TRUTH_STREAM),
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
    unseen=unseen,
  )


def _stream(seed: int, key: int) -> np.random.SeedSequence:
  """Child `key` of SeedSequence(seed), as SeedSequence(seed).spawn would."""
  return np.random.SeedSequence(seed, spawn_key=(key,))


def _rng(seed: int, key: int) -> np.random.Generator:
  return np.random.default_rng(_stream(seed, key))


def _round_streams(seed: int, generation: int, count: int) -> List:
  """The streams of a generation's rounds, in listed order.

  A first generation of one round (the NGAL design's round1) draws from the
  generation's stream itself; otherwise each round gets a child of it.
  """
  stream = _stream(seed, _GENERATION_STREAM_OFFSET + generation)
  if generation == 1 and count == 1:
    return [stream]
  return stream.spawn(count)


def _select(config, target_dg, serum_dg):
  """Walks the design's rounds; returns (read counts, sorts)."""
  rounds = design.design_rounds(config)
  target_kd, serum_kd = 10.0**target_dg, 10.0**serum_dg
  num_members = len(target_dg)
  num_beads = int(round(config.beads_per_sequence * num_members))
  num_molecules = int(round(config.selex_molecules_per_sequence * num_members))
  feeds = {spec.input for spec in rounds}

  # Synthesis bias and the sequence-specific PCR efficiency are properties
  # of the library, shared by every pool.
  rng = _rng(config.seed, _POOL_STREAM)
  abundance = rng.lognormal(0.0, config.library_abundance_sigma, num_members)
  efficiency = selection.pcr_efficiency(
    num_members, config.pcr_efficiency_mean, config.pcr_efficiency_shape, rng
  )
  counts, sorts = {}, {}
  [library] = rounds_lib.generations(rounds)[0]
  if library.positive_read:
    counts[library.positive_read] = _read(abundance, efficiency, config, rng)
  pools = {library.name: abundance}

  for generation, specs in enumerate(rounds_lib.generations(rounds)):
    if not generation:
      continue
    streams = _round_streams(config.seed, generation, len(specs))
    for spec, stream in zip(specs, streams):
      rng = np.random.default_rng(stream)
      theta = binding.target_occupancy(
        target_kd,
        serum_kd,
        spec.target_concentration,
        spec.background_concentration,
      )
      if spec.method == rounds_lib.SELEX:
        result = selection.selex(
          pools[spec.input],
          theta,
          num_molecules,
          config.nonspecific_retention,
          rng,
        )
      else:
        result = selection.particle_display(
          pools[spec.input],
          theta,
          num_beads,
          config.gate,
          config.fluorescence_noise,
          config.sort_impurity,
          rng,
        )
      if spec.name in feeds and not result.collected:
        raise SimulationConfigError(_nothing_collected(spec))
      sorts[spec.name] = result
      # One PCR product of the positive pool: the next rounds' input and
      # what is sequenced.
      pool = selection.amplify(
        result.positive, efficiency, config.pcr_cycles, rng
      )
      if spec.name in feeds:
        pools[spec.name] = pool
      if spec.positive_read:
        counts[spec.positive_read] = selection.sequence(pool, config.depth, rng)
      if spec.negative_read:
        counts[spec.negative_read] = _read(
          result.negative, efficiency, config, rng
        )
  return counts, sorts


def _nothing_collected(spec: rounds_lib.RoundSpec) -> str:
  if spec.method == rounds_lib.SELEX:
    how = 'selex_molecules_per_sequence or nonspecific_retention'
  else:
    how = 'beads_per_sequence or sort_impurity, or lower the gate'
  return (
    f'{spec.name} collected nothing, so the rounds it feeds have no input: '
    f'raise its target concentration, {how}'
  )


def _read(templates, efficiency, config, rng):
  """PCR-amplifies a pool and sequences it at the configured depth."""
  amplified = selection.amplify(templates, efficiency, config.pcr_cycles, rng)
  return selection.sequence(amplified, config.depth, rng)
