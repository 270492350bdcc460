"""Read counts per fate for one FASTQ file or pair, and the pass-rate check.

`ReadStats` is a small mergeable accumulator (lanes or Beam shards of one
pool merge into one), printable as Markdown or console text.
`check_pass_rate` stops a run whose reads almost all fail, which means a
wrong primer, swapped R1/R2 or the wrong sequence_length rather than bad
luck; the error names the file and the most common failure reason.
"""

import dataclasses
from typing import Dict
from typing import Optional

from components.data.fastq.read_qc import FATES
from components.data.fastq.read_qc import Fate

# A healthy run counts most reads (the original pipeline's pools were
# typically well above half). Under 5% okay, something is set up wrong.
DEFAULT_MIN_PASS_FRACTION = 0.05

_HINTS = {
  Fate.NO_PRIMER: (
    'check the experiment forward_primer/reverse_primer (both on the '
    "variable region's strand) and that R1 and R2 are not swapped"
  ),
  Fate.TOO_SHORT: "check the experiment's sequence_length",
  Fate.TOO_LONG: "check the experiment's sequence_length",
  Fate.HAS_N: 'the run called many N bases: check the run quality',
  Fate.LOW_QUALITY: 'the run quality is poor: check the sequencing run',
  Fate.BAD_PAIR: (
    'R1 and R2 disagree: check that the two files are mates of one run'
  ),
}


class LowPassRateError(ValueError):
  """Almost no read of a file passed the read filters."""


@dataclasses.dataclass
class ReadStats:
  """Reads per fate for one file (or pair).

  Attributes:
    source: the file or pair the reads came from (e.g. 'r1.fq.gz +
      r2.fq.gz'); merged stats of several sources join their names.
    counts: fate value ('okay', 'no_primer', ...) -> reads.
  """

  source: str
  counts: Dict[str, int] = dataclasses.field(default_factory=dict)

  def add(self, fate: Fate, reads: int = 1) -> None:
    """Counts `reads` more reads with this fate."""
    key = Fate(fate).value
    self.counts[key] = self.counts.get(key, 0) + reads

  @property
  def total(self) -> int:
    return sum(self.counts.values())

  @property
  def passed(self) -> int:
    return self.counts.get(Fate.OKAY.value, 0)

  @property
  def pass_fraction(self) -> float:
    return self.passed / self.total if self.total else 0.0

  def most_common_failure(self) -> Optional[Fate]:
    """The failing fate with the most reads (first in FATES on ties)."""
    failures = [f for f in FATES if f is not Fate.OKAY]
    best = max(failures, key=lambda f: self.counts.get(f.value, 0))
    return best if self.counts.get(best.value, 0) else None

  def merge(self, other: 'ReadStats') -> 'ReadStats':
    """A new ReadStats with the reads of both."""
    counts = dict(self.counts)
    for key, reads in other.counts.items():
      counts[key] = counts.get(key, 0) + reads
    if other.source == self.source or not other.source:
      source = self.source
    elif not self.source:
      source = other.source
    else:
      source = f'{self.source}, {other.source}'
    return ReadStats(source, counts)

  def as_dict(self) -> Dict[str, object]:
    """source, total, and a count for every fate (zeros included)."""
    result: Dict[str, object] = {'source': self.source, 'total': self.total}
    for fate in FATES:
      result[fate.value] = self.counts.get(fate.value, 0)
    return result

  def _rows(self):
    for fate in FATES:
      reads = self.counts.get(fate.value, 0)
      share = reads / self.total if self.total else 0.0
      yield fate.value, reads, share

  def to_markdown(self) -> str:
    """A Markdown table: fate, reads, percent of all reads."""
    lines = [
      f'Reads of {self.source}: {self.total}',
      '',
      '| fate | reads | % |',
      '|---|---:|---:|',
    ]
    lines += [f'| {f} | {n} | {100 * s:.2f} |' for f, n, s in self._rows()]
    return '\n'.join(lines) + '\n'

  def to_console(self) -> str:
    """Aligned plain-text lines for a terminal."""
    lines = [f'{self.source}: {self.total} reads']
    lines += [f'  {f:<12} {n:>12}  {100 * s:6.2f}%' for f, n, s in self._rows()]
    return '\n'.join(lines)


def check_pass_rate(
  stats: ReadStats, min_pass_fraction: float = DEFAULT_MIN_PASS_FRACTION
) -> None:
  """Raises when fewer than `min_pass_fraction` of the reads are okay.

  Args:
    stats: the reads of one file or pair.
    min_pass_fraction: in [0, 1].

  Raises:
    LowPassRateError: naming the source, the pass rate, the most common
      failure and what to check.
    ValueError: min_pass_fraction is outside [0, 1].
  """
  if not 0.0 <= min_pass_fraction <= 1.0:
    raise ValueError(
      f'min_pass_fraction={min_pass_fraction} must lie in [0, 1]'
    )
  if stats.total == 0:
    raise LowPassRateError(f'{stats.source}: no reads were classified')
  if stats.pass_fraction >= min_pass_fraction:
    return
  failure = stats.most_common_failure()
  reads = stats.counts.get(failure.value, 0)
  raise LowPassRateError(
    f'{stats.source}: only {stats.passed} of {stats.total} reads '
    f'({100 * stats.pass_fraction:.2f}%) passed the read filters (at least '
    f'{100 * min_pass_fraction:g}% expected); the most common failure is '
    f'{failure.value} ({reads} reads, '
    f'{100 * reads / stats.total:.1f}%): {_HINTS[failure]}'
  )
