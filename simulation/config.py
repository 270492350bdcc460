"""The simulator's parameters, their defaults and their validation.

The defaults describe a two-round particle-display experiment modelled on the
NGAL one (MODEL_SPEC.md 6.2), scaled down so the bundled demo dataset trains
in minutes on two CPU cores: 42k library members in 6,000 families, a 40-nt
variable region, 150k reads per sequenced pool. That design is built from
`round1_concentration`, `stringencies`, `serum_concentration`,
`serum_stringencies` and `serum_negative_reads` unless `rounds` lists a
design of its own (see simulation/rounds.py and simulation/scenarios.py).

Concentrations and dissociation constants share one arbitrary unit (read it
as nM): Kd = 10**dG, so a round at target concentration c half-occupies a
sequence whose Kd equals c.
"""

import dataclasses
import math
from typing import Dict
from typing import Sequence
from typing import Tuple

from simulation import landscapes
from simulation import rounds as rounds_lib
from simulation.rounds import RoundSpec


class SimulationConfigError(ValueError):
  """A simulator argument is out of range or inconsistent."""


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
  """Every knob of the simulator; see the module docstring for units.

  Attributes:
    num_families: sequence families (clusters); each is a random parent.
    mutants_per_family: point mutants drawn per parent.
    max_mutations: a mutant differs from its parent at 1..max_mutations
      positions.
    sequence_length: length of the variable region (nt).
    seed: the random seed; same config and seed give byte-identical output.
    depth: sequencing reads drawn from every sequenced pool.
    beads_per_sequence: beads screened per library member in each
      particle-display sort (the NGAL sorts screened about 24 per unique
      input sequence).
    motif_fraction: fraction of parents carrying planted binding motifs.
    target_dg_mean: mean log10 Kd of a motif-free sequence for the target.
    serum_dg_mean: mean log10 Kd of a motif-free sequence for serum.
    binding_noise_scale: standard deviation of the Gaussian dG noise.
    binding_energy_correlation: correlation of the target and serum noise.
    library_abundance_sigma: log-normal spread of synthesis copy numbers.
    round1_concentration: target concentration of the enrichment round.
    stringencies: round-2 target concentration per stringency name; lower
      concentration = higher stringency.
    serum_concentration: serum (background) concentration of the
      with-serum sorts.
    serum_stringencies: stringencies also sorted with serum.
    serum_negative_reads: also sequence the negative pools of the
      with-serum sorts (the NGAL experiment did not).
    gate: fluorescence gate, as a fraction of a fully occupied bead's
      signal; beads above it are sorted positive.
    fluorescence_noise: log-normal sigma of per-bead fluorescence.
    sort_impurity: probability that a bead below the gate is still sorted
      into the positive pool.
    pcr_cycles: PCR cycles applied to every pool before sequencing.
    pcr_efficiency_mean: mean per-sequence PCR efficiency (in (0, 1]).
    pcr_efficiency_shape: gamma shape of the per-sequence PCR efficiency
      (larger = less sequence-dependent amplification bias).
    num_shards: number of TFRecord files written.
    landscape: the binding-energy landscape: motif, motif_epistasis or
      motif_structure (simulation/landscapes.py).
    structure_weight: target dG per standard deviation of the ViennaRNA
      minimum free energy, in the motif_structure landscape (more stable
      folds bind better when > 0).
    matrix_weight: target dG per standard deviation of the energy matrix
      (simulation/energy_matrix.py), in any landscape: a learnable
      background (negative values of the matrix bind better); 0 for none.
    rounds: the design as RoundSpecs, inputs first; () for the NGAL design
      built from round1_concentration, stringencies, serum_concentration,
      serum_stringencies and serum_negative_reads.
    selex_molecules_per_sequence: molecules per library member drawn from
      the input pool in each SELEX round.
    nonspecific_retention: fraction of every sequence retained in a SELEX
      round whatever its affinity (carry-over, surface binding).
    unseen_random: uniform random sequences in the unseen set.
    unseen_seeds: tightest target binders of the library whose point
      mutants go into the unseen set.
    unseen_mutants: mutants per seed at each Hamming distance.
    unseen_max_hamming: mutants are drawn at distances 1..unseen_max_hamming
      from their seed.
  """

  num_families: int = 6000
  mutants_per_family: int = 6
  max_mutations: int = 3
  sequence_length: int = 40
  seed: int = 20210422
  depth: int = 150000
  beads_per_sequence: float = 20.0
  motif_fraction: float = 0.1
  target_dg_mean: float = 3.5
  serum_dg_mean: float = 4.0
  binding_noise_scale: float = 0.4
  binding_energy_correlation: float = 0.5
  library_abundance_sigma: float = 0.3
  round1_concentration: float = 1000.0
  stringencies: Tuple[Tuple[str, float], ...] = (
    ('high', 32.0),
    ('medium', 128.0),
    ('low', 512.0),
  )
  serum_concentration: float = 1000.0
  serum_stringencies: Tuple[str, ...] = ('high', 'medium')
  serum_negative_reads: bool = False
  gate: float = 0.5
  fluorescence_noise: float = 0.35
  sort_impurity: float = 0.002
  pcr_cycles: int = 15
  pcr_efficiency_mean: float = 0.85
  pcr_efficiency_shape: float = 20.0
  num_shards: int = 1
  landscape: str = landscapes.MOTIF_EPISTASIS
  structure_weight: float = 0.5
  matrix_weight: float = 0.0
  rounds: Tuple[RoundSpec, ...] = ()
  selex_molecules_per_sequence: float = 20.0
  nonspecific_retention: float = 1e-3
  unseen_random: int = 20000
  unseen_seeds: int = 50
  unseen_mutants: int = 10
  unseen_max_hamming: int = 4

  @property
  def stringency_map(self) -> Dict[str, float]:
    return dict(self.stringencies)

  def validate(self, min_sequence_length: int) -> None:
    """Checks every argument.

    Args:
      min_sequence_length: the shortest variable region that can hold the
        planted motifs (from the binding model).

    Raises:
      SimulationConfigError: naming the argument and the allowed range.
    """
    positive_ints = {
      'num_families': self.num_families,
      'max_mutations': self.max_mutations,
      'sequence_length': self.sequence_length,
      'depth': self.depth,
      'num_shards': self.num_shards,
    }
    for name, value in positive_ints.items():
      if not isinstance(value, int) or value < 1:
        raise SimulationConfigError(
          f'{name} must be a positive integer, got {value!r}'
        )
    non_negative_ints = {
      'mutants_per_family': self.mutants_per_family,
      'pcr_cycles': self.pcr_cycles,
      'unseen_random': self.unseen_random,
      'unseen_seeds': self.unseen_seeds,
      'unseen_mutants': self.unseen_mutants,
      'unseen_max_hamming': self.unseen_max_hamming,
    }
    for name, value in non_negative_ints.items():
      if not isinstance(value, int) or value < 0:
        raise SimulationConfigError(f'{name} must be >= 0, got {value!r}')
    if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
      raise SimulationConfigError(
        f'seed must be an integer in [0, 2**63), got {self.seed!r}'
      )
    if self.sequence_length < min_sequence_length:
      raise SimulationConfigError(
        f'sequence_length must be >= {min_sequence_length} to hold the '
        f'planted binding motifs, got {self.sequence_length}'
      )
    if self.max_mutations > self.sequence_length:
      raise SimulationConfigError(
        f'max_mutations ({self.max_mutations}) cannot exceed '
        f'sequence_length ({self.sequence_length})'
      )
    _check_float('beads_per_sequence', self.beads_per_sequence, low=0)
    _check_float('motif_fraction', self.motif_fraction, 0, 1, closed=True)
    _check_float('target_dg_mean', self.target_dg_mean)
    _check_float('serum_dg_mean', self.serum_dg_mean)
    _check_float(
      'binding_noise_scale', self.binding_noise_scale, 0, closed=True
    )
    _check_float(
      'binding_energy_correlation',
      self.binding_energy_correlation,
      -1,
      1,
      closed=True,
    )
    _check_float(
      'library_abundance_sigma', self.library_abundance_sigma, 0, closed=True
    )
    _check_float('round1_concentration', self.round1_concentration, 0)
    _check_float('serum_concentration', self.serum_concentration, 0)
    _check_float('gate', self.gate, 0)
    _check_float('fluorescence_noise', self.fluorescence_noise, 0, closed=True)
    _check_float('sort_impurity', self.sort_impurity, 0, 1, closed=True)
    _check_float(
      'pcr_efficiency_mean', self.pcr_efficiency_mean, 0, 1, closed=True
    )
    if self.pcr_efficiency_mean == 0:
      raise SimulationConfigError('pcr_efficiency_mean must be > 0, got 0')
    _check_float('pcr_efficiency_shape', self.pcr_efficiency_shape, 0)
    if not self.stringencies:
      raise SimulationConfigError('stringencies must name at least one sort')
    names = [name for name, _ in self.stringencies]
    if len(set(names)) != len(names):
      raise SimulationConfigError(f'stringency names repeat: {names}')
    for name, conc in self.stringencies:
      if not name or not name.replace('_', '').isalnum():
        raise SimulationConfigError(
          f'stringency name {name!r} must be alphanumeric (underscores ok)'
        )
      _check_float(f'concentration of stringency {name!r}', conc, 0)
    unknown = set(self.serum_stringencies) - set(names)
    if unknown:
      raise SimulationConfigError(
        f'serum_stringencies {sorted(unknown)} are not among the '
        f'stringencies {names}'
      )
    if self.unseen_max_hamming > self.sequence_length:
      raise SimulationConfigError(
        f'unseen_max_hamming ({self.unseen_max_hamming}) cannot exceed '
        f'sequence_length ({self.sequence_length})'
      )
    if self.landscape not in landscapes.LANDSCAPES:
      raise SimulationConfigError(
        f'unknown landscape {self.landscape!r}; valid landscapes: '
        f'{", ".join(landscapes.LANDSCAPES)}'
      )
    _check_float('structure_weight', self.structure_weight)
    _check_float('matrix_weight', self.matrix_weight)
    _check_float(
      'selex_molecules_per_sequence', self.selex_molecules_per_sequence, 0
    )
    _check_float(
      'nonspecific_retention', self.nonspecific_retention, 0, 1, closed=True
    )
    if not isinstance(self.rounds, tuple) or not all(
      isinstance(r, RoundSpec) for r in self.rounds
    ):
      raise SimulationConfigError(
        f'rounds must be a tuple of RoundSpec, got {self.rounds!r}'
      )
    if self.rounds:
      validate_rounds(self.rounds)


def validate_rounds(rounds: Sequence[RoundSpec]) -> None:
  """Checks a design's rounds on their own (names, order, conditions).

  Raises:
    SimulationConfigError: naming the round and what is wrong with it.
  """
  if not rounds:
    raise SimulationConfigError('a design needs at least one round')
  seen = set()
  libraries = []
  for rnd in rounds:
    where = f'round {rnd.name!r}'
    if not rnd.name or not rnd.name.replace('_', '').isalnum():
      raise SimulationConfigError(
        f'{where}: names must be alphanumeric (underscores ok)'
      )
    if rnd.name in seen:
      raise SimulationConfigError(f'{where} is listed twice')
    if rnd.method not in rounds_lib.METHODS:
      raise SimulationConfigError(
        f'{where}: method must be one of {list(rounds_lib.METHODS)}, '
        f'got {rnd.method!r}'
      )
    for label, conc in (
      ('target_concentration', rnd.target_concentration),
      ('background_concentration', rnd.background_concentration),
    ):
      if (
        isinstance(conc, bool)
        or not isinstance(conc, (int, float))
        or not math.isfinite(conc)
        or conc < 0
      ):
        raise SimulationConfigError(
          f'{where}: {label} must be a finite number >= 0, got {conc!r}'
        )
    if rnd.method == rounds_lib.RANDOM:
      libraries.append(rnd.name)
      if rnd.input:
        raise SimulationConfigError(
          f'{where}: the RANDOM (library) round takes no input, got '
          f'{rnd.input!r}'
        )
      if rnd.target_concentration or rnd.background_concentration:
        raise SimulationConfigError(
          f'{where}: the RANDOM (library) round has no concentrations'
        )
      if rnd.negative_reads:
        raise SimulationConfigError(
          f'{where}: the RANDOM (library) round has no negative pool'
        )
    else:
      if rnd.input not in seen:
        raise SimulationConfigError(
          f'{where}: input {rnd.input!r} must be a round listed before it'
        )
      if not rnd.target_concentration > 0:
        raise SimulationConfigError(
          f'{where}: a {rnd.method} round needs target_concentration > 0'
        )
      if rnd.method == rounds_lib.SELEX and rnd.negative_reads:
        raise SimulationConfigError(
          f'{where}: SELEX keeps no negative pool to sequence'
        )
    seen.add(rnd.name)
  if len(libraries) != 1:
    raise SimulationConfigError(
      f'a design needs exactly one RANDOM (library) round, got {libraries}'
    )
  if rounds[0].method != rounds_lib.RANDOM:
    raise SimulationConfigError(
      f'the library round {libraries[0]!r} must be listed first'
    )
  if not any(
    rnd.method != rounds_lib.RANDOM
    and (rnd.positive_reads or rnd.negative_reads)
    for rnd in rounds
  ):
    raise SimulationConfigError(
      'no selection round is sequenced, so there is nothing to learn'
    )


def _check_float(name, value, low=None, high=None, closed=False):
  """Raises unless low < value < high (low <= value <= high if closed)."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise SimulationConfigError(f'{name} must be a number, got {value!r}')
  if math.isnan(value) or math.isinf(value):
    raise SimulationConfigError(f'{name} must be finite, got {value!r}')
  too_low = low is not None and (value < low if closed else value <= low)
  too_high = high is not None and (value > high if closed else value >= high)
  if too_low or too_high:
    lo = '-inf' if low is None else low
    hi = 'inf' if high is None else high
    brackets = '[]' if closed else '()'
    raise SimulationConfigError(
      f'{name} must be in {brackets[0]}{lo}, {hi}{brackets[1]}, got {value!r}'
    )
