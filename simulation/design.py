"""The experiment design: rounds, sorts, read names and the Experiment proto.

A config either lists its rounds (`SimulationConfig.rounds`, see
simulation/rounds.py and the scenarios of simulation/scenarios.py) or gets
the default design, which follows the NGAL experiment (MODEL_SPEC.md 6.2):

  library (RANDOM, reads `library`)
    -> round1 (PARTICLE_DISPLAY, mild enrichment, not sequenced)
      -> round2_<stringency>_no_serum (PARTICLE_DISPLAY; reads
         round2_<stringency>_no_serum_{positive,negative})
      -> round2_<stringency>_with_serum (PARTICLE_DISPLAY with serum as
         background; reads round2_<stringency>_with_serum_positive, plus
         _negative if config.serum_negative_reads)
"""

import collections
from typing import Tuple

from schema import experiment as experiment_lib
from simulation import rounds as rounds_lib
from simulation.config import SimulationConfig
from simulation.rounds import RoundSpec

TARGET = 'target'
SERUM = 'serum'
LIBRARY_ROUND = 'library'
ROUND1 = 'round1'
# Illumina adapter ends, on the variable region's strand.
FORWARD_PRIMER = 'ACACGACGCTCTTCCGATCT'
REVERSE_PRIMER = 'AGATCGGAAGAGCACACGTC'


# The config fields that describe the NGAL design; a config with rounds of
# its own ignores them.
NGAL_DESIGN_FIELDS = (
  'round1_concentration',
  'stringencies',
  'serum_concentration',
  'serum_stringencies',
  'serum_negative_reads',
)


def ngal_rounds(config: SimulationConfig) -> Tuple[RoundSpec, ...]:
  """The NGAL design of config's round-1 and stringency fields.

  Round 2 lists the no-serum sorts first, then the with-serum ones, each in
  the config's stringency order: the simulator gives round-2 sorts their
  random streams in this order.
  """
  out = [
    RoundSpec(LIBRARY_ROUND, '', rounds_lib.RANDOM),
    RoundSpec(
      ROUND1,
      LIBRARY_ROUND,
      rounds_lib.PARTICLE_DISPLAY,
      config.round1_concentration,
      positive_reads=False,
    ),
  ]
  for stringency, conc in config.stringencies:
    out.append(
      RoundSpec(
        f'round2_{stringency}_no_serum',
        ROUND1,
        rounds_lib.PARTICLE_DISPLAY,
        conc,
        negative_reads=True,
      )
    )
  for stringency, conc in config.stringencies:
    if stringency in config.serum_stringencies:
      out.append(
        RoundSpec(
          f'round2_{stringency}_with_serum',
          ROUND1,
          rounds_lib.PARTICLE_DISPLAY,
          conc,
          config.serum_concentration,
          negative_reads=config.serum_negative_reads,
        )
      )
  return tuple(out)


def design_rounds(config: SimulationConfig) -> Tuple[RoundSpec, ...]:
  """The rounds config simulates: its own, or the NGAL design."""
  return config.rounds or ngal_rounds(config)


def build_experiment(config: SimulationConfig):
  """Builds and validates the Experiment proto of the simulated design.

  Args:
    config: the simulator configuration.

  Returns:
    A validated `schema.experiment.Experiment`.
  """
  exp = experiment_lib.Experiment()
  exp.sequence_length = config.sequence_length
  exp.template_sequence = 'N' * config.sequence_length
  exp.forward_primer = FORWARD_PRIMER
  exp.reverse_primer = REVERSE_PRIMER
  for spec in design_rounds(config):
    rnd = exp.rounds[spec.name]
    rnd.input = spec.input
    rnd.method = experiment_lib.Round.Method.Value(spec.method)
    if spec.target_concentration:
      rnd.target_concentrations[TARGET] = spec.target_concentration
    if spec.background_concentration:
      rnd.background_concentrations[SERUM] = spec.background_concentration
    if spec.positive_read:
      rnd.positive_reads.name = spec.positive_read
    if spec.negative_read:
      rnd.negative_reads.name = spec.negative_read

  _assign_measurement_ids(exp)
  experiment_lib.validate_experiment(exp, 'simulated experiment')
  return exp


def _assign_measurement_ids(exp) -> None:
  """Numbers reads from 1, breadth-first from the input rounds, sorted.

  This is the order of the original `selection._assign_measurement_ids`;
  within a round the positive reads come before the negative reads.
  """
  children = collections.defaultdict(list)
  for name, rnd in exp.rounds.items():
    children[rnd.input].append(name)
  queue = collections.deque(sorted(children['']))
  next_id = 1
  while queue:
    name = queue.popleft()
    rnd = exp.rounds[name]
    for kind in ('positive_reads', 'negative_reads'):
      if rnd.HasField(kind) and getattr(rnd, kind).name:
        getattr(rnd, kind).measurement_id = next_id
        next_id += 1
    queue.extend(sorted(children[name]))
