"""What DataContractCheck refuses beyond the experiment's own rules."""

import dataclasses

# Far above any sequencing run's reads per pool: a larger count is a
# corrupted value (an overflow, a wrong column).
DEFAULT_MAX_COUNT = 10**9


@dataclasses.dataclass(frozen=True)
class DataContractConfig:
  """Bounds the data contract checks.

  Attributes:
    max_count: the largest plausible read count of one sequence in one
      pool; a count above it is refused, naming the column.
  """

  max_count: int = DEFAULT_MAX_COUNT

  def __post_init__(self):
    if isinstance(self.max_count, bool) or not isinstance(self.max_count, int):
      raise ValueError(
        f'--max_count must be an integer, got {self.max_count!r}'
      )
    if self.max_count < 1:
      raise ValueError(f'--max_count must be >= 1, got {self.max_count}')
