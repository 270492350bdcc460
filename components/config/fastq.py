"""FastqExampleGen's settings: read filters, clustering distance, pass rate.

The experiment gives the primers and the variable region's length; these
are the thresholds a user may change (`--fastq_*` flags). Their defaults are
`ReadQcConfig`'s, `clustering`'s and `read_stats`' own, never a second copy.
"""

import dataclasses
from typing import Any
from typing import Dict

from components.data import clustering
from components.data.fastq import read_qc
from components.data.fastq import read_stats

FLAG_PREFIX = 'fastq_'
# The thresholds of ReadQcConfig; primers and length come from the
# experiment.
READ_QC_FIELDS = tuple(
  f.name
  for f in dataclasses.fields(read_qc.ReadQcConfig)
  if f.init
  and f.name not in ('forward_primer', 'reverse_primer', 'sequence_length')
)
READ_QC_DEFAULTS: Dict[str, Any] = {
  f.name: f.default
  for f in dataclasses.fields(read_qc.ReadQcConfig)
  if f.name in READ_QC_FIELDS
}
# Checks the thresholds before the experiment is known; the component
# checks them again against the experiment's own primers.
_PLACEHOLDER_PRIMER = 'ACGT' * 5


@dataclasses.dataclass(frozen=True)
class FastqSettings:
  """What FastqExampleGen runs with, apart from the experiment.

  Attributes:
    read_qc: ReadQcConfig thresholds by field name (READ_QC_FIELDS);
      missing ones keep their defaults.
    max_distance: sequences within this Levenshtein distance share a
      cluster (the original's 5).
    min_pass_fraction: a FASTQ file whose share of okay reads is smaller
      fails the run.
  """

  read_qc: Dict[str, Any] = dataclasses.field(default_factory=dict)
  max_distance: int = clustering.DEFAULT_MAX_DISTANCE
  min_pass_fraction: float = read_stats.DEFAULT_MIN_PASS_FRACTION

  def __post_init__(self):
    # Messages start with the field's name, which the runners' flags carry
    # after FLAG_PREFIX.
    unknown = sorted(set(self.read_qc) - set(READ_QC_FIELDS))
    if unknown:
      raise ValueError(
        f'unknown read filters {unknown}; known: {list(READ_QC_FIELDS)}'
      )
    try:
      read_qc.ReadQcConfig(
        _PLACEHOLDER_PRIMER, _PLACEHOLDER_PRIMER, **self.read_qc
      )
    except read_qc.ReadQcConfigError as e:
      raise ValueError(str(e)) from None
    distance = self.max_distance
    if isinstance(distance, bool) or not isinstance(distance, int):
      raise ValueError(f'max_distance={distance!r} must be an integer')
    if distance < 0:
      raise ValueError(f'max_distance={distance} must be >= 0')
    fraction = self.min_pass_fraction
    if (
      isinstance(fraction, bool)
      or not isinstance(fraction, (int, float))
      or not 0 <= fraction <= 1
    ):
      raise ValueError(f'min_pass_fraction={fraction!r} must lie in [0, 1]')

  def component_kwargs(self) -> Dict[str, Any]:
    """FastqExampleGen's arguments for these settings."""
    return {
      'read_qc': dict(self.read_qc),
      'max_distance': self.max_distance,
      'min_pass_fraction': self.min_pass_fraction,
    }
