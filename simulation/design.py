"""The experiment design: rounds, sorts, read names and the Experiment proto.

The default design follows the NGAL experiment (MODEL_SPEC.md 6.2):

  library (RANDOM, reads `library`)
    -> round1 (PARTICLE_DISPLAY, mild enrichment, not sequenced)
      -> round2_<stringency>_no_serum (PARTICLE_DISPLAY; reads
         round2_<stringency>_no_serum_{positive,negative})
      -> round2_<stringency>_with_serum (PARTICLE_DISPLAY with serum as
         background; reads round2_<stringency>_with_serum_positive, plus
         _negative if config.serum_negative_reads)
"""

import collections
import dataclasses
from typing import List

from schema import experiment as experiment_lib
from simulation.config import SimulationConfig

TARGET = 'target'
SERUM = 'serum'
LIBRARY_ROUND = 'library'
ROUND1 = 'round1'
# Illumina adapter ends, on the variable region's strand.
FORWARD_PRIMER = 'ACACGACGCTCTTCCGATCT'
REVERSE_PRIMER = 'AGATCGGAAGAGCACACGTC'


@dataclasses.dataclass(frozen=True)
class Sort:
  """One round-2 particle-display sort.

  Attributes:
    round_name: the experiment round, e.g. 'round2_high_no_serum'.
    stringency: e.g. 'high'.
    target_concentration: [T].
    serum_concentration: [S] (0 without serum).
    positive_read: read name of the positive pool.
    negative_read: read name of the negative pool, '' if not sequenced.
  """

  round_name: str
  stringency: str
  target_concentration: float
  serum_concentration: float
  positive_read: str
  negative_read: str


def round2_sorts(config: SimulationConfig) -> List[Sort]:
  """The round-2 sorts, no-serum first, in the config's stringency order."""
  sorts = []
  for stringency, conc in config.stringencies:
    name = f'round2_{stringency}_no_serum'
    sorts.append(
      Sort(name, stringency, conc, 0.0, f'{name}_positive', f'{name}_negative')
    )
  for stringency, conc in config.stringencies:
    if stringency not in config.serum_stringencies:
      continue
    name = f'round2_{stringency}_with_serum'
    negative = f'{name}_negative' if config.serum_negative_reads else ''
    sorts.append(
      Sort(
        name,
        stringency,
        conc,
        config.serum_concentration,
        f'{name}_positive',
        negative,
      )
    )
  return sorts


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

  library = exp.rounds[LIBRARY_ROUND]
  library.method = experiment_lib.Round.Method.Value('RANDOM')
  library.positive_reads.name = LIBRARY_ROUND

  round1 = exp.rounds[ROUND1]
  round1.input = LIBRARY_ROUND
  round1.method = experiment_lib.Round.Method.Value('PARTICLE_DISPLAY')
  round1.target_concentrations[TARGET] = config.round1_concentration

  for sort in round2_sorts(config):
    rnd = exp.rounds[sort.round_name]
    rnd.input = ROUND1
    rnd.method = experiment_lib.Round.Method.Value('PARTICLE_DISPLAY')
    rnd.target_concentrations[TARGET] = sort.target_concentration
    if sort.serum_concentration:
      rnd.background_concentrations[SERUM] = sort.serum_concentration
    rnd.positive_reads.name = sort.positive_read
    if sort.negative_read:
      rnd.negative_reads.name = sort.negative_read

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
