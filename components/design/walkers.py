"""Walkers: design new aptamers by walking from seeds with point mutations.

A walker starts from seed sequences and, step by step, proposes point-mutant
candidates, scores them with a `ScoreFn` (higher = better predicted binder,
for example a trained model's latent affinity) and keeps the best. This
re-implements the original `search/walkers.py` (Bashir et al. 2021):

* `SamplingWalker`: the greedy local sampler used for the paper's designs.
* `GeneticWalker`: fitness-proportional parents, single-parent mutation.
* `RandomWalker`: the paper's random-model walker (random scores).
* `matched_random_mutants`: random perturbation controls, one per design at
  the same Hamming distance from the same seed.

Differences from the original, all deliberate:

* Steps are 1-based and step s emits `steps[s]` designs, so with
  `PER_SEED_STEPS` the walk has 5 steps. The original looped over
  generations 0..max(steps) (6 of them), looked the count up with the
  0-based index and recorded `mutation_step=i + 1`, so its first generation
  emitted nothing.
* Every random draw comes from a seeded numpy Generator; the original drew
  the mutation distance from Python's unseeded `random` module.
* A proposal picks its parent uniformly at random (the original cycled
  through the parents) and is rejected if it repeats anything this seed's
  walk has already proposed, not just the seed and the emitted designs.
* All seeds walk in lockstep so that a step makes one batched `score_fn`
  call (a TensorFlow model is much faster on large batches).
* The genetic walker keeps one population per seed and emits per seed, like
  the sampling walker; the original pooled all seeds into one population.
"""

import dataclasses
import math
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

from components.design import constraints as constraints_lib

ScoreFn = Callable[[Sequence[str]], np.ndarray]

# The original's PER_SEED_STEPS: designs emitted at each step (11 per seed).
PER_SEED_STEPS = {1: 2, 2: 2, 3: 2, 4: 0, 5: 5}
# The original's search_pipeline.RANDOM_SEED.
DEFAULT_RANDOM_SEED = 12152007
# Largest number of sequences passed to one score_fn call.
MAX_BATCH = 100_000

_NUM_BASES = len(constraints_lib.DNA_BASES)
# SeedSequence spawn-key streams: one for mutations, one for random scores.
_MUTATION_STREAM = 0
_RANDOM_SCORE_STREAM = 1


class WalkerError(ValueError):
  """A walker was given bad seeds or parameters, or its scorer misbehaved."""


@dataclasses.dataclass(frozen=True)
class Design:
  """One designed sequence and how it was reached.

  Attributes:
    sequence: The designed sequence.
    seed: The seed its walk started from.
    parent: The sequence it was mutated from.
    walker: Name of the walker that made it.
    step: 1-based step (generation) of the walk that emitted it.
    distance_to_seed: Hamming distance to `seed`.
    distance_to_parent: Hamming distance to `parent`.
    score: The walker's scorer's value (NaN when it has no model score).
  """

  sequence: str
  seed: str
  parent: str
  walker: str
  step: int
  distance_to_seed: int
  distance_to_parent: int
  score: float

  def as_dict(self) -> Dict[str, object]:
    """The fields as a plain dict, in declaration order."""
    return dataclasses.asdict(self)


def hamming(a: str, b: str) -> int:
  """Number of positions where equal-length strings `a` and `b` differ."""
  if len(a) != len(b):
    raise WalkerError(
      f'Hamming distance needs equal lengths: {a!r} has {len(a)}, '
      f'{b!r} has {len(b)}'
    )
  return sum(x != y for x, y in zip(a, b))


def _mutate_codes(
  parent_codes: np.ndarray, distances: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
  """Row k of the result differs from row k of the parents at distances[k]."""
  count, length = parent_codes.shape
  children = parent_codes.copy()
  if count == 0:
    return children
  most = int(distances.max())
  # The positions of the `most` smallest of `length` iid uniform keys are a
  # uniformly random set of distinct positions.
  keys = rng.random((count, length))
  if most < length:
    positions = np.argpartition(keys, most - 1, axis=1)[:, :most]
  else:
    positions = np.argsort(keys, axis=1)
  # Adding 1..3 modulo 4 always changes the base, uniformly among the other 3.
  offsets = rng.integers(1, _NUM_BASES, size=(count, most), dtype=np.uint8)
  rows, columns = np.nonzero(np.arange(most)[None, :] < distances[:, None])
  changed = positions[rows, columns]
  children[rows, changed] = (
    children[rows, changed] + offsets[rows, columns]
  ) % _NUM_BASES
  return children


def mutate(sequence: str, distance: int, rng: np.random.Generator) -> str:
  """Substitutes bases at `distance` distinct positions of `sequence`.

  Args:
    sequence: A DNA sequence (A, C, G, T).
    distance: Number of positions to change; each changes its base, so the
      result is exactly this Hamming distance from `sequence`.
    rng: Source of randomness.

  Returns:
    The mutant.

  Raises:
    WalkerError: If `sequence` is not DNA or `distance` is out of range.
  """
  if not constraints_lib.is_dna(sequence):
    raise WalkerError(f'cannot mutate {sequence!r}: it must be ACGT only')
  if not 0 <= distance <= len(sequence):
    raise WalkerError(
      f'mutation distance {distance} must be in [0, {len(sequence)}] '
      f'for {sequence!r}'
    )
  codes = constraints_lib.encode([sequence], len(sequence))
  child = _mutate_codes(codes, np.array([distance]), rng)
  return constraints_lib.decode(child)[0]


def _validate_seeds(seeds: Sequence[str], sequence_length: int) -> List[str]:
  if isinstance(seeds, str):
    raise WalkerError(f'seeds must be a list of sequences, not {seeds!r}')
  seeds = list(seeds)
  for index, seed in enumerate(seeds):
    if not isinstance(seed, str):
      raise WalkerError(f'seed {index} ({seed!r}) is not a string')
    if len(seed) != sequence_length:
      raise WalkerError(
        f'seed {index} ({seed!r}) has length {len(seed)}, expected '
        f'{sequence_length}'
      )
    if not constraints_lib.is_dna(seed):
      raise WalkerError(
        f'seed {index} ({seed!r}) has letters other than A, C, G and T'
      )
  return seeds


def _validate_steps(steps: Mapping[int, int]) -> Dict[int, int]:
  if not steps:
    raise WalkerError('steps must name at least one step')
  for step, count in steps.items():
    if not isinstance(step, (int, np.integer)) or step < 1:
      raise WalkerError(f'step {step!r} must be an integer >= 1')
    if not isinstance(count, (int, np.integer)) or count < 0:
      raise WalkerError(f'step {step}: count {count!r} must be >= 0')
  return {int(step): int(count) for step, count in sorted(steps.items())}


def _rng(random_seed: int, *spawn_key: int) -> np.random.Generator:
  return np.random.default_rng(
    np.random.SeedSequence(random_seed, spawn_key=spawn_key)
  )


def _rank(sequences: Sequence[str], scores: np.ndarray) -> np.ndarray:
  """Indices best first: score descending, NaN last, ties by sequence."""
  if not len(sequences):
    return np.zeros(0, dtype=int)
  negated = -np.asarray(scores, dtype=float)
  negated[np.isnan(negated)] = np.inf
  return np.lexsort((np.asarray(sequences), negated))


@dataclasses.dataclass
class _Walk:
  """The state of one seed's walk."""

  index: int
  seed: str
  rng: np.random.Generator
  seen: set
  designs: List[Design] = dataclasses.field(default_factory=list)
  emitted: set = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class _Proposal:
  """One step's candidates for one seed."""

  children: List[str]
  parents: List[str]


class _LockstepWalker:
  """Shared machinery: proposals, batched scoring, emission, validation."""

  name: str

  def __init__(
    self,
    score_fn: Optional[ScoreFn],
    constraints: constraints_lib.DesignConstraints,
    max_trials: int,
    min_distance: int,
    max_distance: int,
    steps: Mapping[int, int],
    random_seed: int,
    max_batch: int,
  ):
    if not isinstance(constraints, constraints_lib.DesignConstraints):
      raise WalkerError(
        f'constraints must be DesignConstraints, got {constraints!r}'
      )
    length = constraints.sequence_length
    if not 1 <= min_distance <= max_distance <= length:
      raise WalkerError(
        f'need 1 <= min_distance ({min_distance}) <= max_distance '
        f'({max_distance}) <= sequence_length ({length})'
      )
    if max_trials < 1:
      raise WalkerError(f'max_trials must be >= 1, got {max_trials}')
    if max_batch < 1:
      raise WalkerError(f'max_batch must be >= 1, got {max_batch}')
    self._score_fn = score_fn
    self._constraints = constraints
    self._max_trials = int(max_trials)
    self._min_distance = int(min_distance)
    self._max_distance = int(max_distance)
    self._steps = _validate_steps(steps)
    self._random_seed = int(random_seed)
    self._max_batch = int(max_batch)

  def _start(self, seeds: Sequence[str]) -> List[_Walk]:
    seeds = _validate_seeds(seeds, self._constraints.sequence_length)
    # No walk ever proposes any input seed.
    all_seeds = set(seeds)
    return [
      _Walk(
        index=index,
        seed=seed,
        rng=_rng(self._random_seed, index, _MUTATION_STREAM),
        seen=set(all_seeds),
      )
      for index, seed in enumerate(seeds)
    ]

  def _propose(
    self,
    walk: _Walk,
    parents: Sequence[str],
    parent_weights: Optional[np.ndarray],
    limit: int,
  ) -> _Proposal:
    """Up to `limit` new valid mutants of `parents` in `max_trials` tries."""
    rng = walk.rng
    trials = self._max_trials
    # Draw every trial at once: vectorised, and the rng consumption per step
    # is fixed, which keeps walks reproducible.
    parent_index = rng.choice(len(parents), size=trials, p=parent_weights)
    distances = rng.integers(
      self._min_distance, self._max_distance + 1, size=trials
    )
    parent_codes = constraints_lib.encode(
      parents, self._constraints.sequence_length
    )
    child_codes = _mutate_codes(parent_codes[parent_index], distances, rng)
    allowed = self._constraints.allows_codes(child_codes)
    children = constraints_lib.decode(child_codes)
    proposal = _Proposal(children=[], parents=[])
    for trial, child in enumerate(children):
      if len(proposal.children) >= limit:
        break
      if child in walk.seen:
        continue
      walk.seen.add(child)
      if allowed[trial]:
        proposal.children.append(child)
        proposal.parents.append(parents[parent_index[trial]])
    return proposal

  def _score(
    self, walks: Sequence[_Walk], batches: Sequence[Sequence[str]]
  ) -> List[np.ndarray]:
    """Scores every walk's sequences with one score_fn call per max_batch."""
    flat = [sequence for batch in batches for sequence in batch]
    scores = np.zeros(len(flat), dtype=float)
    for start in range(0, len(flat), self._max_batch):
      chunk = flat[start : start + self._max_batch]
      values = np.asarray(self._score_fn(chunk), dtype=float).reshape(-1)
      if values.shape[0] != len(chunk):
        raise WalkerError(
          f'{self.name} walker: score_fn returned {values.shape[0]} scores '
          f'for {len(chunk)} sequences'
        )
      scores[start : start + len(chunk)] = values
    bounds = np.cumsum([0] + [len(batch) for batch in batches])
    return [scores[bounds[k] : bounds[k + 1]] for k in range(len(batches))]

  def _design_score(self, score: float) -> float:
    return float(score)

  def _emit(
    self,
    walk: _Walk,
    step: int,
    candidates: Sequence[str],
    parents: Sequence[str],
    scores: np.ndarray,
  ) -> None:
    """Emits the best `steps[step]` candidates this walk has not emitted."""
    wanted = self._steps.get(step, 0)
    if not wanted:
      return
    emitted = 0
    for k in _rank(candidates, scores):
      if emitted == wanted:
        break
      sequence = candidates[k]
      if sequence in walk.emitted:
        continue
      walk.emitted.add(sequence)
      walk.designs.append(
        Design(
          sequence=sequence,
          seed=walk.seed,
          parent=parents[k],
          walker=self.name,
          step=step,
          distance_to_seed=hamming(sequence, walk.seed),
          distance_to_parent=hamming(sequence, parents[k]),
          score=self._design_score(scores[k]),
        )
      )
      emitted += 1

  @staticmethod
  def _collect(walks: Sequence[_Walk]) -> List[Design]:
    """All designs, seed by seed; a sequence two seeds reached is kept once.

    The copy from the earlier seed wins, so a seed's designs never depend on
    the seeds listed after it.
    """
    designs, kept = [], set()
    for walk in walks:
      for design in walk.designs:
        if design.sequence not in kept:
          kept.add(design.sequence)
          designs.append(design)
    return designs


class SamplingWalker(_LockstepWalker):
  """The original's greedy local sampler (used for the paper's designs).

  Each seed keeps a set of current parents, at first only the seed. At each
  step it proposes up to `sampling_limit` unique mutants, each of a parent
  chosen uniformly at random, at a Hamming distance drawn uniformly from
  [min_distance, max_distance]. Duplicates of anything the walk has already
  proposed, input seeds and sequences the constraints forbid are rejected;
  proposing stops after `max_trials` tries. It scores the candidates, emits
  the best `steps[s]` not yet emitted (ties broken by sequence) and makes the
  best `n_parents` candidates the next step's parents.
  """

  def __init__(
    self,
    score_fn: ScoreFn,
    constraints: constraints_lib.DesignConstraints,
    sampling_limit: int = 1000,
    max_trials: int = 2000,
    n_parents: int = 10,
    min_distance: int = 1,
    max_distance: int = 4,
    steps: Mapping[int, int] = PER_SEED_STEPS,
    random_seed: int = DEFAULT_RANDOM_SEED,
    name: str = 'sampling',
    max_batch: int = MAX_BATCH,
  ):
    """Makes the walker.

    Args:
      score_fn: Scores sequences, higher = better binder.
      constraints: What every design must satisfy.
      sampling_limit: Most candidates proposed per seed per step.
      max_trials: Most proposal tries per seed per step.
      n_parents: Candidates of a step kept as the next step's parents.
      min_distance: Least Hamming distance from parent to candidate.
      max_distance: Largest Hamming distance from parent to candidate.
      steps: 1-based step -> number of designs to emit per seed.
      random_seed: Seed i walks with an rng from SeedSequence(random_seed,
        spawn_key=(i, 0)), so its designs do not depend on batching or on
        the seeds after it.
      name: Recorded as `Design.walker`.
      max_batch: Most sequences per score_fn call.
    """
    super().__init__(
      score_fn,
      constraints,
      max_trials=max_trials,
      min_distance=min_distance,
      max_distance=max_distance,
      steps=steps,
      random_seed=random_seed,
      max_batch=max_batch,
    )
    if sampling_limit < 1 or n_parents < 1:
      raise WalkerError(
        f'sampling_limit ({sampling_limit}) and n_parents ({n_parents}) '
        f'must be >= 1'
      )
    self._sampling_limit = int(sampling_limit)
    self._n_parents = int(n_parents)
    self.name = name

  def walk(self, seeds: Sequence[str]) -> List[Design]:
    """Walks every seed; returns the designs seed by seed, step by step.

    Args:
      seeds: Seed sequences of the constraints' length, ACGT only.

    Returns:
      The designs; at most sum(steps.values()) per seed (fewer only when the
      constraints leave too few candidates).

    Raises:
      WalkerError: Naming the seed and its index if a seed is malformed.
    """
    walks = self._start(seeds)
    parents = [[walk.seed] for walk in walks]
    for step in range(1, max(self._steps) + 1):
      proposals = [
        self._propose(walk, walk_parents, None, self._sampling_limit)
        for walk, walk_parents in zip(walks, parents)
      ]
      scores = self._score(walks, [p.children for p in proposals])
      for k, (walk, proposal) in enumerate(zip(walks, proposals)):
        self._emit(walk, step, proposal.children, proposal.parents, scores[k])
        if proposal.children:
          best = _rank(proposal.children, scores[k])[: self._n_parents]
          parents[k] = [proposal.children[j] for j in best]
    return self._collect(walks)


class RandomWalker(SamplingWalker):
  """The paper's random-model walker: a SamplingWalker with random scores.

  Scores are uniform in [0, 1) from an rng of its own per seed
  (SeedSequence(random_seed, spawn_key=(i, 1))); it never calls a model and
  its designs have a NaN score.
  """

  def __init__(
    self,
    constraints: constraints_lib.DesignConstraints,
    sampling_limit: int = 1000,
    max_trials: int = 2000,
    n_parents: int = 10,
    min_distance: int = 1,
    max_distance: int = 4,
    steps: Mapping[int, int] = PER_SEED_STEPS,
    random_seed: int = DEFAULT_RANDOM_SEED,
    name: str = 'random',
  ):
    super().__init__(
      None,
      constraints,
      sampling_limit=sampling_limit,
      max_trials=max_trials,
      n_parents=n_parents,
      min_distance=min_distance,
      max_distance=max_distance,
      steps=steps,
      random_seed=random_seed,
      name=name,
    )
    self._score_rngs: Dict[int, np.random.Generator] = {}

  def _start(self, seeds: Sequence[str]) -> List[_Walk]:
    walks = super()._start(seeds)
    self._score_rngs = {
      walk.index: _rng(self._random_seed, walk.index, _RANDOM_SCORE_STREAM)
      for walk in walks
    }
    return walks

  def _score(
    self, walks: Sequence[_Walk], batches: Sequence[Sequence[str]]
  ) -> List[np.ndarray]:
    return [
      self._score_rngs[walk.index].random(len(batch))
      for walk, batch in zip(walks, batches)
    ]

  def _design_score(self, score: float) -> float:
    return math.nan


class GeneticWalker(_LockstepWalker):
  """The original's genetic walker, one population per seed.

  A seed's population starts as the seed (scored first, in one call for all
  seeds). Each generation picks parents from the best `population` members
  with probability proportional to a linear rank weight (the best of k gets
  weight k, the worst 1; rank weights are used instead of the original's
  `score - min + 1e-5` because they do not depend on the scale of the
  scores and still give the worst candidate a chance), mutates each at a
  Hamming distance drawn from [min_distance, max_distance] to make up to
  `children_per_generation` new valid children in `max_trials` tries, and
  adds the scored children to the population (parents stay). Generation g
  emits the best `steps[g]` members that are neither the seed nor emitted
  already. There are 1 + generations score_fn calls (seeds, then one per
  generation).
  """

  def __init__(
    self,
    score_fn: ScoreFn,
    constraints: constraints_lib.DesignConstraints,
    population: int = 100,
    children_per_generation: int = 1000,
    generations: Optional[int] = None,
    max_trials: int = 2000,
    min_distance: int = 1,
    max_distance: int = 4,
    steps: Mapping[int, int] = PER_SEED_STEPS,
    random_seed: int = DEFAULT_RANDOM_SEED,
    name: str = 'genetic',
    max_batch: int = MAX_BATCH,
  ):
    """Makes the walker.

    Args:
      score_fn: Scores sequences, higher = better binder.
      constraints: What every design must satisfy.
      population: How many of the best members may be parents (the
        original's n_possible_parents).
      children_per_generation: Most children per seed per generation (the
        original's n_parents: each selected parent has one child).
      generations: Number of generations; default max(steps), the last step
        that emits.
      max_trials: Most tries per seed per generation.
      min_distance: Least Hamming distance from parent to child.
      max_distance: Largest Hamming distance from parent to child.
      steps: 1-based generation -> number of designs to emit per seed.
      random_seed: Seed i evolves with an rng from SeedSequence(random_seed,
        spawn_key=(i, 0)).
      name: Recorded as `Design.walker`.
      max_batch: Most sequences per score_fn call.
    """
    super().__init__(
      score_fn,
      constraints,
      max_trials=max_trials,
      min_distance=min_distance,
      max_distance=max_distance,
      steps=steps,
      random_seed=random_seed,
      max_batch=max_batch,
    )
    if population < 1 or children_per_generation < 1:
      raise WalkerError(
        f'population ({population}) and children_per_generation '
        f'({children_per_generation}) must be >= 1'
      )
    last_emitting = max(
      (step for step, count in self._steps.items() if count), default=0
    )
    self._generations = (
      max(self._steps) if generations is None else int(generations)
    )
    if self._generations < max(last_emitting, 1):
      raise WalkerError(
        f'generations ({generations}) must be >= the last step that emits '
        f'({last_emitting})'
      )
    self._population = int(population)
    self._children = int(children_per_generation)
    self.name = name

  def walk(self, seeds: Sequence[str]) -> List[Design]:
    """Evolves every seed's population; returns the designs seed by seed.

    Args:
      seeds: Seed sequences of the constraints' length, ACGT only.

    Returns:
      The designs; at most sum(steps.values()) per seed.

    Raises:
      WalkerError: Naming the seed and its index if a seed is malformed.
    """
    walks = self._start(seeds)
    if not walks:
      return []
    seed_scores = self._score(walks, [[walk.seed] for walk in walks])
    # Per walk: sequence -> (score, parent).
    members: List[Dict[str, Tuple[float, str]]] = [
      {walk.seed: (float(score[0]), walk.seed)}
      for walk, score in zip(walks, seed_scores)
    ]
    for generation in range(1, self._generations + 1):
      proposals = []
      for walk, walk_members in zip(walks, members):
        pool, weights = self._parent_pool(walk_members)
        proposals.append(self._propose(walk, pool, weights, self._children))
      scores = self._score(walks, [p.children for p in proposals])
      for k, (walk, proposal) in enumerate(zip(walks, proposals)):
        for child, parent, score in zip(
          proposal.children, proposal.parents, scores[k]
        ):
          members[k][child] = (float(score), parent)
        candidates = [s for s in members[k] if s != walk.seed]
        self._emit(
          walk,
          generation,
          candidates,
          [members[k][s][1] for s in candidates],
          np.array([members[k][s][0] for s in candidates], dtype=float),
        )
    return self._collect(walks)

  def _parent_pool(
    self, walk_members: Mapping[str, Tuple[float, str]]
  ) -> Tuple[List[str], np.ndarray]:
    """The best `population` members and their selection probabilities."""
    sequences = list(walk_members)
    scores = np.array([walk_members[s][0] for s in sequences], dtype=float)
    best = _rank(sequences, scores)[: self._population]
    pool = [sequences[k] for k in best]
    weights = np.arange(len(pool), 0, -1, dtype=float)
    return pool, weights / weights.sum()


def matched_random_mutants(
  designs: Sequence[Design],
  constraints: constraints_lib.DesignConstraints,
  random_seed: int = DEFAULT_RANDOM_SEED,
  max_trials: int = 2000,
  per_design: int = 1,
) -> List[Design]:
  """Random perturbation controls matched to designs.

  For every design, uniformly random mutants of the same seed at the same
  Hamming distance from it (distinct positions, each base changed) that the
  constraints allow and that are neither a seed, a design nor another
  control. These are the controls the paper compares designs against
  ("11-fold higher than random perturbation").

  The draws go through the designs in a canonical order (seed, distance,
  sequence), so the controls of a set of designs do not depend on how the
  designs were ordered (a model's last-digit differences reorder them).

  Args:
    designs: The designs to match.
    constraints: What every control must satisfy.
    random_seed: Seed of the (single, sequential) rng.
    max_trials: Most tries per control.
    per_design: Controls per design; more make the random rate a tighter
      estimate.

  Returns:
    `per_design` controls per design, grouped in the designs' order;
    walker='random_matched', parent=seed, the design's step, score NaN.

  Raises:
    WalkerError: If no valid control is found for a design in `max_trials`
      tries (the message names the seed and the distance).
  """
  if per_design < 1:
    raise WalkerError(f'per_design must be at least 1, got {per_design}')
  rng = _rng(random_seed, _MUTATION_STREAM)
  length = constraints.sequence_length
  taken = {d.sequence for d in designs} | {d.seed for d in designs}
  tries_per_draw = 32
  order = sorted(
    range(len(designs)),
    key=lambda i: (
      designs[i].seed,
      designs[i].distance_to_seed,
      designs[i].sequence,
    ),
  )
  found: Dict[int, List[Design]] = {}
  for number in order:
    design = designs[number]
    distance = design.distance_to_seed
    if len(design.seed) != length or not 1 <= distance <= length:
      raise WalkerError(
        f'design {number} ({design.sequence!r}): seed length '
        f'{len(design.seed)} or distance {distance} does not fit length '
        f'{length}'
      )
    seed_codes = constraints_lib.encode([design.seed], length)
    found[number] = []
    for _ in range(per_design):
      control = None
      tries = 0
      while control is None and tries < max_trials:
        count = min(tries_per_draw, max_trials - tries)
        tries += count
        mutants = constraints_lib.decode(
          _mutate_codes(
            np.repeat(seed_codes, count, axis=0),
            np.full(count, distance),
            rng,
          )
        )
        for mutant in mutants:
          if mutant not in taken and constraints.allows(mutant):
            control = mutant
            break
      if control is None:
        raise WalkerError(
          f'no valid random mutant of seed {design.seed!r} at distance '
          f'{distance} in {max_trials} tries (design {number})'
        )
      taken.add(control)
      found[number].append(
        Design(
          sequence=control,
          seed=design.seed,
          parent=design.seed,
          walker='random_matched',
          step=design.step,
          distance_to_seed=distance,
          distance_to_parent=distance,
          score=math.nan,
        )
      )
  return [
    control for number in range(len(designs)) for control in found[number]
  ]
