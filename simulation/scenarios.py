"""Named experiment-design scenarios, each a complete simulator configuration.

`SCENARIOS` maps a name to its Scenario (one-line description and
SimulationConfig); `configure(name, **overrides)` returns a scenario's
config with some fields replaced. Every scenario is sized like the demo
(42k library members in 6,000 families, 150k reads per sequenced pool), so
the pipeline trains on any of them in minutes on two CPU cores; all use the
same seed, so their libraries are the same sequences.

  demo                     the NGAL-like default (SimulationConfig())
  serum_every_round        serum as background in every sequenced round:
                           target and serum affinities confounded
  single_round             one round of particle display at four
                           stringencies, no background
  single_round_background  the same with serum as background in every sort:
                           confounded
  selex                    four SELEX rounds at falling target
                           concentration, positive pools only
  demo_energy_matrix       the demo's design on a landscape with a learnable
                           background (an energy matrix) and less
                           per-sequence noise: binders among random
                           sequences are a function of the sequence
"""

import dataclasses
from typing import Dict
from typing import Tuple

from simulation import design
from simulation import landscapes
from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError
from simulation.rounds import PARTICLE_DISPLAY
from simulation.rounds import RANDOM
from simulation.rounds import SELEX
from simulation.rounds import RoundSpec

DEMO = 'demo'
SERUM_EVERY_ROUND = 'serum_every_round'
SINGLE_ROUND = 'single_round'
SINGLE_ROUND_BACKGROUND = 'single_round_background'
SELEX_SCENARIO = 'selex'
DEMO_ENERGY_MATRIX = 'demo_energy_matrix'

_LIBRARY = RoundSpec(design.LIBRARY_ROUND, '', RANDOM)
# Serum at the target's round-1 concentration, as in the demo's sorts.
_SERUM = 1000.0
# Four-fold steps, as the demo's round-2 stringencies; from the unenriched
# library one round needs a wider range to see more than the top binders.
_SINGLE_ROUND_STRINGENCIES = (
  ('high', 64.0),
  ('medium', 256.0),
  ('low', 1024.0),
  ('lowest', 4096.0),
)
_SELEX_CONCENTRATIONS = (300.0, 100.0, 30.0, 10.0)
# The energy matrix's weight and the remaining per-sequence noise of
# demo_energy_matrix: the noise-free landscape ranks the true top 1 % of
# unseen random sequences at ROC-AUC 0.997 (0.5 on the motif landscapes).
_MATRIX_WEIGHT = 0.6
_MATRIX_NOISE = 0.15


@dataclasses.dataclass(frozen=True)
class Scenario:
  """A named, complete simulator configuration.

  Attributes:
    name: the scenario's name (the `--scenario` value).
    description: one line for `--list_scenarios`.
    config: the SimulationConfig it simulates.
  """

  name: str
  description: str
  config: SimulationConfig


def _serum_every_round() -> Tuple[RoundSpec, ...]:
  out = [
    _LIBRARY,
    RoundSpec(
      design.ROUND1,
      design.LIBRARY_ROUND,
      PARTICLE_DISPLAY,
      1000.0,
      _SERUM,
      negative_reads=True,
    ),
  ]
  for stringency, conc in SimulationConfig().stringencies:
    out.append(
      RoundSpec(
        f'round2_{stringency}',
        design.ROUND1,
        PARTICLE_DISPLAY,
        conc,
        _SERUM,
        negative_reads=True,
      )
    )
  return tuple(out)


def _single_round(serum: float) -> Tuple[RoundSpec, ...]:
  return (_LIBRARY,) + tuple(
    RoundSpec(
      f'round1_{stringency}',
      design.LIBRARY_ROUND,
      PARTICLE_DISPLAY,
      conc,
      serum,
      negative_reads=True,
    )
    for stringency, conc in _SINGLE_ROUND_STRINGENCIES
  )


def _selex() -> Tuple[RoundSpec, ...]:
  out = [_LIBRARY]
  for i, conc in enumerate(_SELEX_CONCENTRATIONS, start=1):
    out.append(RoundSpec(f'round{i}', out[-1].name, SELEX, conc))
  return tuple(out)


_ALL = (
  Scenario(
    DEMO,
    'NGAL-like: library, round 1 unsequenced, round 2 at 3 stringencies '
    'without serum and 2 with serum as background (data/demo)',
    SimulationConfig(),
  ),
  Scenario(
    SERUM_EVERY_ROUND,
    'serum as background in every round: round 1 and 3 round-2 '
    'stringencies, positive and negative pools sequenced (target and serum '
    'confounded)',
    SimulationConfig(rounds=_serum_every_round()),
  ),
  Scenario(
    SINGLE_ROUND,
    'one round of particle display from the library at 4 stringencies, no '
    'background, positive and negative pools sequenced',
    SimulationConfig(rounds=_single_round(0.0), landscape=landscapes.MOTIF),
  ),
  Scenario(
    SINGLE_ROUND_BACKGROUND,
    'single_round with serum as background in every sort (target and serum '
    'confounded)',
    SimulationConfig(rounds=_single_round(_SERUM), landscape=landscapes.MOTIF),
  ),
  Scenario(
    SELEX_SCENARIO,
    "4 SELEX rounds at falling target concentration, each the next one's "
    'input, positive pools sequenced, folding-dependent landscape',
    SimulationConfig(rounds=_selex(), landscape=landscapes.MOTIF_STRUCTURE),
  ),
  Scenario(
    DEMO_ENERGY_MATRIX,
    "the demo's design on a landscape with an energy-matrix background "
    '(position terms and neighbour couplings, weight 0.6) and noise sd 0.15 '
    'instead of 0.4: binders among random sequences are learnable',
    SimulationConfig(
      matrix_weight=_MATRIX_WEIGHT, binding_noise_scale=_MATRIX_NOISE
    ),
  ),
)
SCENARIOS: Dict[str, Scenario] = {s.name: s for s in _ALL}


def get_scenario(name: str) -> Scenario:
  """The scenario called name.

  Raises:
    SimulationConfigError: no such scenario; the message lists the valid
      ones.
  """
  if name not in SCENARIOS:
    raise SimulationConfigError(
      f'unknown scenario {name!r}; valid scenarios: {", ".join(SCENARIOS)}'
    )
  return SCENARIOS[name]


def configure(name: str, **overrides) -> SimulationConfig:
  """A scenario's config with some fields replaced.

  Args:
    name: the scenario.
    **overrides: SimulationConfig fields and their values.

  Returns:
    The SimulationConfig (not yet validated; `simulate` validates it).

  Raises:
    SimulationConfigError: unknown scenario or field, or a field of the
      demo's NGAL design given for a scenario with rounds of its own.
  """
  config = get_scenario(name).config
  fields = {f.name for f in dataclasses.fields(SimulationConfig)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise SimulationConfigError(f'unknown SimulationConfig fields: {unknown}')
  if config.rounds and 'rounds' not in overrides:
    ignored = [f for f in design.NGAL_DESIGN_FIELDS if f in overrides]
    if ignored:
      raise SimulationConfigError(
        f"{', '.join(ignored)} set the demo design's rounds; scenario "
        f'{name!r} lists rounds of its own (use scenario {DEMO!r})'
      )
  return dataclasses.replace(config, **overrides)
