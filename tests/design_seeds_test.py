"""Tests for components/design/seeds.py (experimental and ML seeds)."""

import math

import numpy as np
import pytest

from components.design import constraints as constraints_lib
from components.design import seeds as seeds_lib


def g_count(sequences):
  return np.array([s.count('G') for s in sequences], dtype=float)


def weighted_score(sequences):
  """A scorer with few ties: position-weighted base values."""
  weights = np.sin(np.arange(1, 41))
  codes = constraints_lib.encode(list(sequences), 40).astype(float)
  return codes @ weights[: codes.shape[1]]


def brute_force_top(sequences, scores, keep):
  ranked = sorted(
    {
      (-score, s)
      for s, score in zip(sequences, scores)
      if not math.isnan(score)
    }
  )
  best, seen = [], set()
  for negated, sequence in ranked:
    if sequence not in seen:
      seen.add(sequence)
      best.append((sequence, -negated))
  return best[:keep]


class TestTopByEvidence:
  def test_highest_evidence_first_ties_by_sequence_nan_skipped(self):
    sequences = ['CCCC', 'AAAA', 'GGGG', 'TTTT', 'ACGT']
    evidence = [2.0, 3.0, float('nan'), 3.0, 1.0]
    assert seeds_lib.top_by_evidence(sequences, evidence, 3) == [
      'AAAA',
      'TTTT',
      'CCCC',
    ]
    assert seeds_lib.top_by_evidence(sequences, evidence, 10) == [
      'AAAA',
      'TTTT',
      'CCCC',
      'ACGT',
    ]

  def test_constraints_filter_composition_not_avoid(self):
    constraints = constraints_lib.DesignConstraints(
      4, gc_range=(0.0, 0.5), avoid=frozenset({'AAAA'})
    )
    sequences = ['CCCC', 'AAAA', 'ACGT', 'ACG']
    evidence = [9.0, 3.0, 1.0, 8.0]
    assert seeds_lib.top_by_evidence(sequences, evidence, 5, constraints) == [
      'AAAA',
      'ACGT',
    ]

  def test_duplicates_kept_once(self):
    assert seeds_lib.top_by_evidence(
      ['ACGT', 'ACGT', 'TTTT'], [1.0, 5.0, 2.0], 2
    ) == ['ACGT', 'TTTT']

  def test_length_mismatch(self):
    with pytest.raises(seeds_lib.SeedSelectionError, match='2 sequences'):
      seeds_lib.top_by_evidence(['A', 'C'], [1.0], 1)


class TestMlSeeds:
  def test_keeps_true_top_k_of_what_was_scored(self):
    num, keep = 2_500, 37
    sequences, scores = seeds_lib.ml_seeds(
      weighted_score, 40, num, keep, batch_size=300, random_seed=5
    )
    generated = constraints_lib.decode(
      seeds_lib.random_sequence_codes(5, 0, num, 40)
    )
    expected = brute_force_top(generated, weighted_score(generated), keep)
    assert list(zip(sequences, scores.tolist())) == expected

  def test_ties_and_duplicates_short_sequences(self):
    # Length 3: only 64 sequences exist, so duplicates and ties abound.
    sequences, scores = seeds_lib.ml_seeds(
      g_count, 3, 1_000, 20, batch_size=64, random_seed=1
    )
    generated = constraints_lib.decode(
      seeds_lib.random_sequence_codes(1, 0, 1_000, 3)
    )
    expected = brute_force_top(generated, g_count(generated), 20)
    assert list(zip(sequences, scores.tolist())) == expected
    assert len(set(sequences)) == 20

  def test_deterministic_and_batch_size_independent(self):
    first = seeds_lib.ml_seeds(weighted_score, 40, 3_000, 10, 1_000, 7)
    again = seeds_lib.ml_seeds(weighted_score, 40, 3_000, 10, 1_000, 7)
    other_batches = seeds_lib.ml_seeds(weighted_score, 40, 3_000, 10, 333, 7)
    other_seed = seeds_lib.ml_seeds(weighted_score, 40, 3_000, 10, 1_000, 8)
    assert first[0] == again[0] == other_batches[0]
    np.testing.assert_array_equal(first[1], other_batches[1])
    assert first[0] != other_seed[0]

  def test_sequences_are_uniform_random_dna(self):
    codes = seeds_lib.random_sequence_codes(3, 0, 5_000, 40)
    counts = np.bincount(codes.ravel(), minlength=4) / codes.size
    np.testing.assert_allclose(counts, 0.25, atol=0.01)
    # Slicing the stream gives the same sequences.
    np.testing.assert_array_equal(
      seeds_lib.random_sequence_codes(3, 1_234, 3_456, 40), codes[1_234:3_456]
    )

  def test_nan_scores_dropped_and_progress_reported(self):
    def half_nan(sequences):
      scores = g_count(sequences)
      scores[::2] = np.nan
      return scores

    reports = []
    sequences, scores = seeds_lib.ml_seeds(
      half_nan,
      40,
      1_000,
      600,
      batch_size=400,
      progress=lambda done, total: reports.append((done, total)),
    )
    assert len(sequences) == 500
    assert not np.isnan(scores).any()
    assert np.all(np.diff(scores) <= 0)
    assert reports == [(400, 1_000), (800, 1_000), (1_000, 1_000)]

  def test_bad_scorer_and_arguments(self):
    with pytest.raises(seeds_lib.SeedSelectionError, match='returned 1'):
      seeds_lib.ml_seeds(lambda s: np.zeros(1), 40, 100, 5)
    with pytest.raises(seeds_lib.SeedSelectionError, match='keep'):
      seeds_lib.ml_seeds(g_count, 40, 100, 0)
