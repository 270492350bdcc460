"""Tests for components/design/walkers.py (design by walking from seeds)."""

import math

import numpy as np
import pytest

from components.design import constraints as constraints_lib
from components.design import walkers

LENGTH = 40


def random_seeds(count, seed=0, length=LENGTH):
  rng = np.random.default_rng(seed)
  codes = rng.integers(0, 4, size=(count, length), dtype=np.uint8)
  return constraints_lib.decode(codes)


class CountingScorer:
  """Scores by the number of G; records every call's size."""

  def __init__(self):
    self.calls = []

  def __call__(self, sequences):
    self.calls.append(len(sequences))
    return np.array([s.count('G') for s in sequences], dtype=float)


def small_sampling(score_fn, constraints, **kwargs):
  options = dict(sampling_limit=150, max_trials=300)
  options.update(kwargs)
  return walkers.SamplingWalker(score_fn, constraints, **options)


def assert_design_invariants(designs, seeds, constraints, min_d=1, max_d=4):
  sequences = [d.sequence for d in designs]
  assert len(set(sequences)) == len(sequences)
  assert not set(sequences) & set(seeds)
  for design in designs:
    assert constraints.allows(design.sequence)
    assert design.seed in seeds
    assert design.distance_to_seed == walkers.hamming(
      design.sequence, design.seed
    )
    assert design.distance_to_parent == walkers.hamming(
      design.sequence, design.parent
    )
    assert min_d <= design.distance_to_parent <= max_d


class TestMutate:
  @pytest.mark.parametrize('distance', [0, 1, 2, 4, 17, 40])
  def test_exact_hamming_distance(self, distance):
    rng = np.random.default_rng(3)
    for seed in random_seeds(20, seed=distance):
      mutant = walkers.mutate(seed, distance, rng)
      assert len(mutant) == LENGTH
      assert walkers.hamming(seed, mutant) == distance
      assert constraints_lib.is_dna(mutant)

  def test_every_position_and_base_is_reachable(self):
    rng = np.random.default_rng(4)
    seed = 'ACGT' * 10
    changes = set()
    for _ in range(3000):
      mutant = walkers.mutate(seed, 1, rng)
      (position,) = [i for i in range(LENGTH) if mutant[i] != seed[i]]
      changes.add((position, mutant[position]))
    assert len(changes) == LENGTH * 3

  def test_deterministic(self):
    seed = random_seeds(1)[0]
    first = [
      walkers.mutate(seed, 3, np.random.default_rng(9)) for _ in range(3)
    ]
    rng = np.random.default_rng(9)
    again = walkers.mutate(seed, 3, rng)
    assert first[0] == again == first[1]

  @pytest.mark.parametrize('distance', [-1, 41])
  def test_bad_distance(self, distance):
    with pytest.raises(walkers.WalkerError, match=str(distance)):
      walkers.mutate('A' * LENGTH, distance, np.random.default_rng(0))

  def test_bad_sequence(self):
    with pytest.raises(walkers.WalkerError, match='ACGN'):
      walkers.mutate('ACGN', 1, np.random.default_rng(0))


def test_hamming():
  assert walkers.hamming('ACGT', 'ACGT') == 0
  assert walkers.hamming('ACGT', 'TCGA') == 2
  with pytest.raises(walkers.WalkerError):
    walkers.hamming('ACG', 'ACGT')


class TestSamplingWalker:
  def test_invariants_with_constraints(self):
    seeds = random_seeds(6, seed=1)
    # Observed neighbours of the seeds must never be emitted.
    rng = np.random.default_rng(5)
    avoid = frozenset(
      walkers.mutate(s, d, rng)
      for s in seeds
      for d in (1, 2)
      for _ in range(30)
    )
    constraints = constraints_lib.DesignConstraints(
      LENGTH,
      gc_range=(0.4, 0.6),
      forbidden_motifs=('GGGG', 'AAAA'),
      avoid=avoid,
    )
    designs = small_sampling(CountingScorer(), constraints).walk(seeds)
    assert_design_invariants(designs, seeds, constraints)
    assert not {d.sequence for d in designs} & avoid
    for design in designs:
      gc = constraints_lib.gc_fraction(design.sequence)
      assert 0.4 <= gc <= 0.6
      assert 'GGGG' not in design.sequence and 'AAAA' not in design.sequence
      assert design.walker == 'sampling'

  def test_eleven_designs_per_seed_by_step(self):
    seeds = random_seeds(4, seed=2)
    constraints = constraints_lib.DesignConstraints(LENGTH)
    designs = small_sampling(CountingScorer(), constraints).walk(seeds)
    assert sum(walkers.PER_SEED_STEPS.values()) == 11
    for seed in seeds:
      steps = [d.step for d in designs if d.seed == seed]
      assert steps == [1, 1, 2, 2, 3, 3, 5, 5, 5, 5, 5]
    assert_design_invariants(designs, seeds, constraints)

  def test_emits_the_best_candidates_of_each_step(self):
    seeds = random_seeds(2, seed=3)
    constraints = constraints_lib.DesignConstraints(LENGTH)
    designs = small_sampling(CountingScorer(), constraints).walk(seeds)
    for design in designs:
      assert design.score == design.sequence.count('G')
    # Scores of one seed never decrease from one step to the next much:
    # the last step's designs beat the first step's.
    for seed in seeds:
      first = [d.score for d in designs if d.seed == seed and d.step == 1]
      last = [d.score for d in designs if d.seed == seed and d.step == 5]
      assert min(last) > max(first)

  def test_model_guided_beats_random_walker(self):
    seeds = random_seeds(10, seed=4)
    constraints = constraints_lib.DesignConstraints(LENGTH)
    guided = small_sampling(CountingScorer(), constraints).walk(seeds)
    random_designs = walkers.RandomWalker(
      constraints, sampling_limit=150, max_trials=300
    ).walk(seeds)
    assert len(random_designs) == len(guided) == 110
    seed_mean = np.mean([s.count('G') for s in seeds])
    guided_mean = np.mean([d.sequence.count('G') for d in guided])
    random_mean = np.mean([d.sequence.count('G') for d in random_designs])
    assert guided_mean > seed_mean + 5
    assert guided_mean > random_mean + 5
    assert abs(random_mean - seed_mean) < 2
    assert all(math.isnan(d.score) for d in random_designs)
    assert {d.walker for d in random_designs} == {'random'}
    assert_design_invariants(random_designs, seeds, constraints)

  def test_deterministic_and_independent_of_other_seeds(self):
    a, b = random_seeds(2, seed=5)
    constraints = constraints_lib.DesignConstraints(LENGTH)
    together = small_sampling(CountingScorer(), constraints).walk([a, b])
    again = small_sampling(CountingScorer(), constraints).walk([a, b])
    alone = small_sampling(CountingScorer(), constraints).walk([a])
    assert together == again
    assert [d for d in together if d.seed == a] == alone
    other_seed = small_sampling(
      CountingScorer(), constraints, random_seed=1
    ).walk([a])
    assert other_seed != alone

  def test_one_score_call_per_step_and_batch_independence(self):
    seeds = random_seeds(5, seed=6)
    constraints = constraints_lib.DesignConstraints(LENGTH)
    scorer = CountingScorer()
    designs = small_sampling(scorer, constraints).walk(seeds)
    assert scorer.calls == [5 * 150] * 5
    chunked_scorer = CountingScorer()
    chunked = small_sampling(chunked_scorer, constraints, max_batch=100).walk(
      seeds
    )
    assert chunked == designs
    assert max(chunked_scorer.calls) == 100
    assert sum(chunked_scorer.calls) == sum(scorer.calls)

  def test_too_few_candidates_emits_fewer(self):
    # Length 3 with distance 1 has only 9 neighbours per sequence.
    constraints = constraints_lib.DesignConstraints(3)
    designs = walkers.SamplingWalker(
      CountingScorer(), constraints, max_distance=1
    ).walk(['ACG'])
    assert 0 < len(designs) < 11
    assert len({d.sequence for d in designs}) == len(designs)
    assert 'ACG' not in {d.sequence for d in designs}

  def test_duplicate_designs_across_seeds_kept_once(self):
    seed = random_seeds(1, seed=7)[0]
    constraints = constraints_lib.DesignConstraints(LENGTH)
    designs = small_sampling(CountingScorer(), constraints).walk([seed, seed])
    sequences = [d.sequence for d in designs]
    assert len(set(sequences)) == len(sequences)

  @pytest.mark.parametrize(
    'bad_seed, message',
    [
      ('ACGT' * 9, 'length 36'),
      ('ACGN' * 10, 'letters'),
      ('acgt' * 10, 'letters'),
    ],
  )
  def test_bad_seed_names_seed_and_index(self, bad_seed, message):
    constraints = constraints_lib.DesignConstraints(LENGTH)
    walker = small_sampling(CountingScorer(), constraints)
    with pytest.raises(walkers.WalkerError, match=message) as error:
      walker.walk(['A' * LENGTH, bad_seed])
    assert 'seed 1' in str(error.value)
    assert bad_seed in str(error.value)

  def test_bad_parameters(self):
    constraints = constraints_lib.DesignConstraints(LENGTH)
    with pytest.raises(walkers.WalkerError, match='min_distance'):
      walkers.SamplingWalker(CountingScorer(), constraints, min_distance=0)
    with pytest.raises(walkers.WalkerError, match='step'):
      walkers.SamplingWalker(CountingScorer(), constraints, steps={0: 1})

  def test_score_fn_returning_wrong_count(self):
    constraints = constraints_lib.DesignConstraints(LENGTH)
    walker = small_sampling(lambda s: np.zeros(3), constraints)
    with pytest.raises(walkers.WalkerError, match='returned 3 scores'):
      walker.walk(random_seeds(1))

  def test_design_as_dict(self):
    constraints = constraints_lib.DesignConstraints(LENGTH)
    design = small_sampling(CountingScorer(), constraints).walk(
      random_seeds(1)
    )[0]
    row = design.as_dict()
    assert list(row) == [
      'sequence',
      'seed',
      'parent',
      'walker',
      'step',
      'distance_to_seed',
      'distance_to_parent',
      'score',
    ]
    assert row['sequence'] == design.sequence


class TestGeneticWalker:
  def small_genetic(self, score_fn, constraints, **kwargs):
    options = dict(population=20, children_per_generation=100, max_trials=200)
    options.update(kwargs)
    return walkers.GeneticWalker(score_fn, constraints, **options)

  def test_invariants_and_improvement(self):
    seeds = random_seeds(6, seed=8)
    constraints = constraints_lib.DesignConstraints(
      LENGTH, gc_range=(0.3, 0.8), forbidden_motifs=('TTTTT',)
    )
    scorer = CountingScorer()
    designs = self.small_genetic(scorer, constraints).walk(seeds)
    assert_design_invariants(designs, seeds, constraints)
    assert len(designs) == 6 * 11
    assert {d.walker for d in designs} == {'genetic'}
    # One call for the seeds, then one per generation.
    assert len(scorer.calls) == 6 and scorer.calls[0] == 6
    assert all(500 <= calls <= 600 for calls in scorer.calls[1:])
    seed_mean = np.mean([s.count('G') for s in seeds])
    assert np.mean([d.score for d in designs]) > seed_mean + 4
    for seed in seeds:
      steps = [d.step for d in designs if d.seed == seed]
      assert steps == [1, 1, 2, 2, 3, 3, 5, 5, 5, 5, 5]

  def test_deterministic_and_independent_of_batching(self):
    a, b = random_seeds(2, seed=9)
    constraints = constraints_lib.DesignConstraints(LENGTH)
    together = self.small_genetic(CountingScorer(), constraints).walk([a, b])
    chunked = self.small_genetic(
      CountingScorer(), constraints, max_batch=7
    ).walk([a, b])
    alone = self.small_genetic(CountingScorer(), constraints).walk([a])
    assert together == chunked
    assert [d for d in together if d.seed == a] == alone

  def test_generations_must_cover_steps(self):
    constraints = constraints_lib.DesignConstraints(LENGTH)
    with pytest.raises(walkers.WalkerError, match='generations'):
      walkers.GeneticWalker(CountingScorer(), constraints, generations=3)


class TestMatchedRandomMutants:
  def test_same_seed_same_distance_unique_and_allowed(self):
    seeds = random_seeds(5, seed=10)
    constraints = constraints_lib.DesignConstraints(
      LENGTH, gc_range=(0.35, 0.65), forbidden_motifs=('CCCC',)
    )
    designs = small_sampling(CountingScorer(), constraints).walk(seeds)
    controls = walkers.matched_random_mutants(designs, constraints, 11)
    assert len(controls) == len(designs)
    taken = {d.sequence for d in designs} | set(seeds)
    assert len({c.sequence for c in controls}) == len(controls)
    for design, control in zip(designs, controls):
      assert control.seed == control.parent == design.seed
      assert control.step == design.step
      assert (
        walkers.hamming(control.sequence, design.seed)
        == (design.distance_to_seed)
        == control.distance_to_seed
      )
      assert control.sequence not in taken
      assert constraints.allows(control.sequence)
      assert control.walker == 'random_matched'
      assert math.isnan(control.score)
    again = walkers.matched_random_mutants(designs, constraints, 11)
    assert again == controls
    assert walkers.matched_random_mutants(designs, constraints, 12) != controls

  def test_controls_per_design_do_not_depend_on_the_designs_order(self):
    seeds = random_seeds(4, seed=3)
    constraints = constraints_lib.DesignConstraints(LENGTH)
    designs = small_sampling(CountingScorer(), constraints).walk(seeds)
    controls = walkers.matched_random_mutants(
      designs, constraints, 5, per_design=3
    )
    assert len(controls) == 3 * len(designs)
    assert len({c.sequence for c in controls}) == len(controls)
    for number, design in enumerate(designs):
      for control in controls[3 * number : 3 * number + 3]:
        assert control.seed == design.seed
        assert walkers.hamming(control.sequence, design.seed) == (
          design.distance_to_seed
        )
    # Reversed designs get the same controls, reversed by design.
    backwards = walkers.matched_random_mutants(
      designs[::-1], constraints, 5, per_design=3
    )
    by_design = [controls[3 * i : 3 * i + 3] for i in range(len(designs))]
    assert backwards == [c for group in by_design[::-1] for c in group]
    with pytest.raises(walkers.WalkerError, match='per_design'):
      walkers.matched_random_mutants(designs, constraints, 5, per_design=0)

  def test_impossible_control_names_seed(self):
    # Every mutant of 'AAA' at distance 1 still contains an A.
    seed = 'AAA'
    design = walkers.Design('CAA', seed, seed, 'x', 1, 1, 1, 0.0)
    constraints = constraints_lib.DesignConstraints(3, forbidden_motifs=('A',))
    with pytest.raises(walkers.WalkerError, match="'AAA'"):
      walkers.matched_random_mutants([design], constraints, 0, max_trials=50)
