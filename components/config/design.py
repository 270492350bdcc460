"""What the Designer walks from, how far, and what it must avoid.

The defaults are the original's search (MODEL_SPEC.md 6.2): the sampling
walker with `sampling_limit=1000`, `max_trials=2000`, `n_parents=10`,
Hamming distance 1-4 per step and 11 designs per seed over five steps
(`PER_SEED_STEPS = {1: 2, 2: 2, 3: 2, 4: 0, 5: 5}`). The ML-seed pool is
smaller than the original's 10^7 random sequences so that the demo stays
quick; `--design_random_pool=10000000` restores it.
"""

import dataclasses
from typing import Dict
from typing import Optional
from typing import Tuple

EXPERIMENTAL_SEEDS = 'experimental'
ML_SEEDS = 'ml'
FILE_SEEDS = 'file'
SEED_SOURCES = (EXPERIMENTAL_SEEDS, ML_SEEDS, FILE_SEEDS)
SAMPLING_WALKER = 'sampling'
GENETIC_WALKER = 'genetic'
WALKERS = (SAMPLING_WALKER, GENETIC_WALKER)
# The original's designs per walk step (PER_SEED_STEPS, 11 per seed).
ORIGINAL_STEPS = ((1, 2), (2, 2), (3, 2), (4, 0), (5, 5))
ORIGINAL_PER_SEED = sum(n for _, n in ORIGINAL_STEPS)
# The original's SamplingWalker random_seed.
ORIGINAL_RANDOM_SEED = 12152007


def steps_for(per_seed: int) -> Dict[int, int]:
  """Designs per walk step: the original's plan, scaled to `per_seed`.

  11 gives the original's {1: 2, 2: 2, 3: 2, 4: 0, 5: 5}; other totals keep
  its proportions (largest remainders), so a walk still goes five steps
  deep and emits most designs at the end.
  """
  exact = [
    (step, n * per_seed / ORIGINAL_PER_SEED) for step, n in ORIGINAL_STEPS
  ]
  counts = {step: int(x) for step, x in exact}
  left = per_seed - sum(counts.values())
  by_remainder = sorted(exact, key=lambda sx: (-(sx[1] % 1), -sx[0]))
  for step, _ in by_remainder[:left]:
    counts[step] += 1
  return counts


@dataclasses.dataclass(frozen=True)
class DesignConfig:
  """The Designer's settings (flags `--design_*`).

  Attributes:
    enabled: run the Designer after the Pusher (a blessed model only).
    seed_sources: where seeds come from: 'experimental' (the training
      split's sequences with the strongest count-derived binding evidence),
      'ml' (the best-scored of `random_pool` random sequences) and 'file'
      (`seed_file`, added when it is given).
    num_seeds: seeds taken from each of the experimental and ML sources.
    seed_file: a FASTA, text or CSV file of user seeds ('' for none).
    per_seed: designs emitted per seed (`steps_for`).
    random_pool: random sequences scored for the ML seeds.
    walker: 'sampling' (the original's SamplingWalker) or 'genetic'.
    sampling_limit: candidates scored per seed and step.
    max_trials: proposals tried per seed and step (duplicates and
      constraint violations are retried until then).
    n_parents: the best candidates of a step that the next step mutates.
    min_distance: fewest substitutions per step.
    max_distance: most substitutions per step.
    gc_range: (low, high) GC fraction every design must have; None = any.
    forbidden_motifs: substrings no design may contain.
    affinity: the served latent to design by (e.g. 'target' or
      'target_vs_serum'); '' = the first one the experiment identifies.
    random_seed: seeds every random choice of the walkers.
  """

  enabled: bool = True
  seed_sources: Tuple[str, ...] = (EXPERIMENTAL_SEEDS, ML_SEEDS)
  num_seeds: int = 100
  seed_file: str = ''
  per_seed: int = ORIGINAL_PER_SEED
  random_pool: int = 100_000
  walker: str = SAMPLING_WALKER
  sampling_limit: int = 1000
  max_trials: int = 2000
  n_parents: int = 10
  min_distance: int = 1
  max_distance: int = 4
  gc_range: Optional[Tuple[float, float]] = None
  forbidden_motifs: Tuple[str, ...] = ()
  affinity: str = ''
  random_seed: int = ORIGINAL_RANDOM_SEED

  def __post_init__(self):
    sources = tuple(self.seed_sources)
    if self.seed_file and FILE_SEEDS not in sources:
      sources += (FILE_SEEDS,)
    object.__setattr__(self, 'seed_sources', sources)
    object.__setattr__(self, 'forbidden_motifs', tuple(self.forbidden_motifs))
    unknown = sorted(set(sources) - set(SEED_SOURCES))
    if unknown:
      raise ValueError(
        f'--design_seed_sources: unknown {unknown}; valid: {list(SEED_SOURCES)}'
      )
    if not sources:
      raise ValueError('--design_seed_sources: name at least one source')
    if FILE_SEEDS in sources and not self.seed_file:
      raise ValueError(
        "--design_seed_sources names 'file' but --design_seed_file is empty"
      )
    if self.walker not in WALKERS:
      raise ValueError(
        f'--design_walker must be one of {list(WALKERS)}, got {self.walker!r}'
      )
    for name, low in (
      ('num_seeds', 1),
      ('per_seed', 1),
      ('sampling_limit', 1),
      ('max_trials', 1),
      ('n_parents', 1),
      ('min_distance', 1),
    ):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(
          f'--design_{name} must be an integer >= {low}, got {value!r}'
        )
    if ML_SEEDS in sources and self.random_pool < self.num_seeds:
      raise ValueError(
        f'--design_random_pool ({self.random_pool}) must be at least '
        f'--design_seeds ({self.num_seeds}) to draw ML seeds'
      )
    if self.max_distance < self.min_distance:
      raise ValueError(
        f'--design_max_distance ({self.max_distance}) is below '
        f'--design_min_distance ({self.min_distance})'
      )
    if self.max_trials < self.sampling_limit:
      raise ValueError(
        f'--design_max_trials ({self.max_trials}) is below '
        f'--design_sampling_limit ({self.sampling_limit})'
      )
    if self.gc_range is not None:
      low, high = self.gc_range
      if not 0.0 <= low <= high <= 1.0:
        raise ValueError(
          f'--design_gc_range must be low,high with 0 <= low <= high <= 1, '
          f'got {low},{high}'
        )
    for motif in self.forbidden_motifs:
      if not motif or set(motif) - set('ACGT'):
        raise ValueError(
          f'--design_forbidden_motifs: {motif!r} is not a motif over ACGT'
        )

  @property
  def steps(self) -> Dict[int, int]:
    """Designs emitted at each walk step (1-based)."""
    return steps_for(self.per_seed)

  def to_json_dict(self) -> dict:
    """The settings as JSON-ready values (the component's parameter)."""
    values = dataclasses.asdict(self)
    values['seed_sources'] = list(self.seed_sources)
    values['forbidden_motifs'] = list(self.forbidden_motifs)
    values['gc_range'] = None if self.gc_range is None else list(self.gc_range)
    return values

  @classmethod
  def from_json_dict(cls, values: dict) -> 'DesignConfig':
    values = dict(values)
    values['seed_sources'] = tuple(values['seed_sources'])
    values['forbidden_motifs'] = tuple(values['forbidden_motifs'])
    if values['gc_range'] is not None:
      values['gc_range'] = tuple(values['gc_range'])
    return cls(**values)
