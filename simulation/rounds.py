"""One round of a simulated design: its input, method, conditions and reads.

A design is a tuple of `RoundSpec`s listed inputs first: exactly one RANDOM
round with no input (the synthesised library), then selection rounds, each
sorting (PARTICLE_DISPLAY) or partitioning (SELEX) the amplified positive
pool of its input round. Read names follow the round name: the library's
read is the round name itself, a selection round's are
`<name>_positive` and `<name>_negative`. `simulation.config.validate_rounds`
checks a design; `simulation.design.build_experiment` turns it into the
Experiment proto.
"""

import dataclasses
from typing import Sequence

PARTICLE_DISPLAY = 'PARTICLE_DISPLAY'
SELEX = 'SELEX'
RANDOM = 'RANDOM'
METHODS = (PARTICLE_DISPLAY, SELEX, RANDOM)


@dataclasses.dataclass(frozen=True)
class RoundSpec:
  """One round of the design.

  Attributes:
    name: the experiment round name (alphanumeric and underscores).
    input: the input round's name; '' for the library.
    method: PARTICLE_DISPLAY, SELEX or RANDOM (the library).
    target_concentration: [T] of the selection (0 for the library).
    background_concentration: [S] of serum as background (0 = none).
    positive_reads: whether the positive pool (the library itself for a
      RANDOM round) is sequenced.
    negative_reads: whether the negative pool is sequenced (particle
      display only).
  """

  name: str
  input: str
  method: str
  target_concentration: float = 0.0
  background_concentration: float = 0.0
  positive_reads: bool = True
  negative_reads: bool = False

  @property
  def positive_read(self) -> str:
    """Read name of the positive pool, '' if it is not sequenced."""
    if not self.positive_reads:
      return ''
    return self.name if self.method == RANDOM else f'{self.name}_positive'

  @property
  def negative_read(self) -> str:
    """Read name of the negative pool, '' if it is not sequenced."""
    return f'{self.name}_negative' if self.negative_reads else ''


def generations(rounds: Sequence[RoundSpec]):
  """The rounds grouped by distance from the library, in listed order.

  Returns:
    A list of lists of RoundSpec: [[library], [rounds fed by it], ...].
  """
  depth = {}
  out = []
  for rnd in rounds:
    d = 0 if not rnd.input else depth[rnd.input] + 1
    depth[rnd.name] = d
    while len(out) <= d:
      out.append([])
    out[d].append(rnd)
  return out
