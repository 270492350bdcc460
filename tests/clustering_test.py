"""Tests for components/data/clustering.py against brute force."""

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from components.data import clustering

_BASES = 'ACGT'


def _random_sequence(rng, length=40):
  return ''.join(rng.choice(list(_BASES), length))


def _edit(sequence, rng, edits, keep_length=True):
  """Applies random substitutions, insertions and deletions."""
  s = list(sequence)
  for _ in range(edits):
    op, position = rng.integers(3), rng.integers(len(s))
    base = _BASES[rng.integers(4)]
    if op == 0:
      s[position] = base
    elif op == 1:
      s.insert(position, base)
      if keep_length:
        s.pop()
    else:
      s.pop(position)
      if keep_length:
        s.append(_BASES[rng.integers(4)])
  return ''.join(s)


def _families(seed, num_families, size, max_edits, num_random, **kwargs):
  rng = np.random.default_rng(seed)
  seen = {}
  for _ in range(num_families):
    parent = _random_sequence(rng)
    seen.setdefault(parent, None)
    for _ in range(size):
      edits = int(rng.integers(1, max_edits + 1))
      seen.setdefault(_edit(parent, rng, edits, **kwargs), None)
  for _ in range(num_random):
    seen.setdefault(_random_sequence(rng), None)
  return list(seen)


def _truth(sequences, max_distance=5):
  edges = clustering.brute_force_edges(sequences, max_distance)
  return clustering.components(len(sequences), edges), edges


def test_families_with_indels_match_brute_force():
  sequences = _families(0, 60, 40, 3, 1000)
  truth, edges = _truth(sequences)
  result = clustering.cluster_by_edit_distance(sequences)
  assert clustering.same_partition(truth, result.cluster_ids)
  assert result.stats.num_clusters == len(np.unique(truth))
  assert result.cluster_ids.dtype == np.int64
  assert len(edges) > 10_000  # The families are dense: a real test.
  assert result.stats.checked_pairs < len(sequences) ** 2 / 20


def test_returned_edges_are_true_and_nearly_all():
  sequences = _families(1, 30, 40, 3, 300)
  _, edges = _truth(sequences)
  result = clustering.cluster_by_edit_distance(sequences, return_edges=True)
  true_edges = {tuple(e) for e in edges}
  assert {tuple(e) for e in result.edges} <= true_edges
  assert clustering.edge_recall(result.edges, edges) >= 0.99


@pytest.mark.parametrize('num_segments', [None, 7, 8])
def test_hamming_neighbours_are_all_found(num_segments):
  rng = np.random.default_rng(2)
  sequences = {}
  for _ in range(20):
    parent = list(_random_sequence(rng))
    for _ in range(30):
      child = list(parent)
      for position in rng.choice(40, rng.integers(1, 6), replace=False):
        child[position] = _BASES[rng.integers(4)]
      sequences.setdefault(''.join(child), None)
  sequences = list(sequences)
  edges = clustering.brute_force_edges(sequences, 5)
  result = clustering.cluster_by_edit_distance(
    sequences, num_segments=num_segments, return_edges=True
  )
  hamming = [
    e
    for e in edges
    if sum(a != b for a, b in zip(sequences[e[0]], sequences[e[1]])) <= 5
  ]
  assert hamming
  assert clustering.edge_recall(result.edges, np.array(hamming)) == 1.0


@pytest.mark.parametrize('max_distance', [1, 2, 3, 7])
def test_other_distances_match_brute_force(max_distance):
  sequences = _families(3, 20, 30, max(1, max_distance // 2 + 1), 200)
  truth, _ = _truth(sequences, max_distance)
  result = clustering.cluster_by_edit_distance(
    sequences, max_distance=max_distance
  )
  assert clustering.same_partition(truth, result.cluster_ids)


def test_different_lengths_match_brute_force():
  sequences = _families(4, 40, 25, 3, 300, keep_length=False)
  rng = np.random.default_rng(5)
  sequences += [
    _random_sequence(rng, int(rng.integers(20, 60))) for _ in range(50)
  ]
  sequences = list(dict.fromkeys(sequences))
  assert len({len(s) for s in sequences}) > 5
  truth, _ = _truth(sequences)
  result = clustering.cluster_by_edit_distance(sequences)
  assert result.stats.max_shift == 5
  assert clustering.same_partition(truth, result.cluster_ids)


def _at_distance(sequence, distance, rng):
  """A copy of sequence at exactly the given Levenshtein distance."""
  while True:
    child = list(sequence)
    for position in rng.choice(len(sequence), distance, replace=False):
      child[position] = _BASES[(_BASES.index(child[position]) + 1) % 4]
    child = ''.join(child)
    if Levenshtein.distance(sequence, child) == distance:
      return child


def test_distance_exactly_max_joins_and_max_plus_one_does_not():
  rng = np.random.default_rng(6)
  a = _random_sequence(rng)
  b = _at_distance(a, 5, rng)
  c = _random_sequence(rng)
  d = _at_distance(c, 6, rng)
  # An indel pair at distance exactly 5: 2 deletions, 2 insertions, 1 sub.
  e = _random_sequence(rng)
  f = e[:5] + e[6:20] + 'A' + e[20:30] + e[31:] + 'C'
  f = f[:35] + ('A' if f[35] != 'A' else 'C') + f[36:]
  assert Levenshtein.distance(e, f) == 5
  result = clustering.cluster_by_edit_distance([a, b, c, d, e, f])
  ids = result.cluster_ids
  assert ids[0] == ids[1]
  assert ids[2] != ids[3]
  assert ids[4] == ids[5]
  assert result.stats.num_clusters == 4


def test_chain_is_one_cluster():
  rng = np.random.default_rng(7)
  a = _random_sequence(rng)
  b = _at_distance(a, 4, rng)
  c = _at_distance(b, 4, rng)
  while Levenshtein.distance(a, c) <= 5:
    c = _at_distance(b, 4, rng)
  result = clustering.cluster_by_edit_distance([a, c, b])
  assert len(set(result.cluster_ids)) == 1


def test_ids_do_not_depend_on_input_order():
  sequences = _families(8, 20, 20, 3, 200)
  counts = np.random.default_rng(9).integers(1, 100, len(sequences))
  result = clustering.cluster_by_edit_distance(sequences, counts)
  permutation = np.random.default_rng(10).permutation(len(sequences))
  permuted = clustering.cluster_by_edit_distance(
    [sequences[i] for i in permutation], counts[permutation]
  )
  np.testing.assert_array_equal(
    permuted.cluster_ids, result.cluster_ids[permutation]
  )
  assert permuted.representatives == result.representatives
  # Ids follow the smallest member of each cluster.
  smallest = [
    min(s for s, i in zip(sequences, result.cluster_ids) if i == k)
    for k in range(1, result.stats.num_clusters + 1)
  ]
  assert smallest == sorted(smallest)


def test_representative_has_highest_count_ties_by_sequence():
  rng = np.random.default_rng(11)
  a = _random_sequence(rng)
  b, c = _at_distance(a, 1, rng), _at_distance(a, 2, rng)
  x = _random_sequence(rng)
  y = _at_distance(x, 1, rng)
  sequences = [a, b, c, x, y]
  result = clustering.cluster_by_edit_distance(sequences, [3, 7, 2, 5, 5])
  ids = result.cluster_ids
  assert result.representatives[ids[0] - 1] == b
  assert result.representatives[ids[3] - 1] == min(x, y)
  assert result.representative_indices[ids[0] - 1] == 1
  # Without counts every member ties: the smallest sequence wins.
  plain = clustering.cluster_by_edit_distance(sequences)
  assert plain.representatives[plain.cluster_ids[0] - 1] == min(a, b, c)


def test_single_and_empty_inputs():
  one = clustering.cluster_by_edit_distance(['ACGT'])
  np.testing.assert_array_equal(one.cluster_ids, [1])
  assert one.representatives == ('ACGT',)
  empty = clustering.cluster_by_edit_distance([])
  assert empty.cluster_ids.shape == (0,)
  assert empty.representatives == ()
  assert empty.stats.num_clusters == 0
  assert clustering.brute_force_edges([], 5).shape == (0, 2)


def test_distance_zero_keeps_every_sequence_apart():
  result = clustering.cluster_by_edit_distance(['AAAA', 'AAAC'], max_distance=0)
  assert result.stats.num_clusters == 2


def test_duplicates_raise():
  with pytest.raises(clustering.ClusteringError, match='sequences 0 and 2'):
    clustering.cluster_by_edit_distance(['ACGT', 'AAAA', 'ACGT'])


@pytest.mark.parametrize(
  'sequences, counts, max_distance, message',
  [
    (['ACGT', ''], None, 5, 'sequence 1 must be a non-empty string'),
    (['ACGT', 7], None, 5, 'sequence 1 must be a non-empty string'),
    (['ACGT', 'ACGé'], None, 5, 'sequence 1 has a non-ASCII'),
    (['ACGT'], [1, 2], 5, 'counts has shape'),
    (['ACGT', 'AAAA'], [1, -2], 5, 'count of sequence 1 is negative'),
    (['ACGT'], [1.5], 5, 'counts must be integers'),
    (['ACGT'], None, -1, 'max_distance must be >= 0'),
    (['ACGT'], None, 2.0, 'max_distance must be an int'),
  ],
)
def test_bad_input_raises(sequences, counts, max_distance, message):
  with pytest.raises(clustering.ClusteringError, match=message):
    clustering.cluster_by_edit_distance(sequences, counts, max_distance)


def test_capped_buckets_never_merge_distant_sequences():
  sequences = _families(12, 5, 100, 3, 100)
  truth, _ = _truth(sequences)
  result = clustering.cluster_by_edit_distance(sequences, max_bucket_pairs=50)
  assert result.stats.capped_buckets > 0
  # Each found cluster lies inside one true component.
  pairs = np.unique(np.stack([result.cluster_ids, truth], 1), axis=0)
  assert len(pairs) == result.stats.num_clusters


def test_low_complexity_sequences():
  rng = np.random.default_rng(13)
  sequences = list(
    dict.fromkeys(
      _edit('A' * 40, rng, int(rng.integers(1, 8))) for _ in range(400)
    )
  )
  truth, _ = _truth(sequences)
  result = clustering.cluster_by_edit_distance(sequences)
  assert clustering.same_partition(truth, result.cluster_ids)


def test_recall_measures():
  sequences = _families(14, 10, 20, 3, 50)
  truth, edges = _truth(sequences)
  result = clustering.cluster_by_edit_distance(sequences, return_edges=True)
  assert clustering.edge_recall(edges, edges) == 1.0
  assert clustering.co_cluster_recall(truth, edges) == 1.0
  assert clustering.edge_recall(edges[1:], edges) == pytest.approx(
    1 - 1 / len(edges)
  )
  apart = np.arange(len(sequences))
  assert clustering.co_cluster_recall(apart, edges) == 0.0
  assert clustering.edge_recall(result.edges, np.empty((0, 2))) == 1.0
  assert not clustering.same_partition(truth, apart)
  assert clustering.same_partition(truth, truth * 3 + 1)


@pytest.mark.parametrize('num_segments, min_recall', [(7, 0.98), (8, 0.9)])
def test_keys_of_several_segments(num_segments, min_recall):
  # Large inputs get keys of 2 or 3 segments; small ones 1 by default.
  sequences = _families(15, 30, 40, 3, 300)
  truth, edges = _truth(sequences)
  result = clustering.cluster_by_edit_distance(
    sequences, num_segments=num_segments, return_edges=True
  )
  assert result.stats.segments_per_key == num_segments - 5
  assert clustering.edge_recall(result.edges, edges) >= min_recall
  pairs = np.unique(np.stack([result.cluster_ids, truth], 1), axis=0)
  assert len(pairs) == result.stats.num_clusters  # A refinement of truth.
  plain = clustering.cluster_by_edit_distance(
    sequences, num_segments=num_segments
  )
  assert clustering.same_partition(plain.cluster_ids, result.cluster_ids)


def test_default_layout_for_small_inputs_uses_single_segment_keys():
  sequences = _families(16, 5, 10, 3, 50)
  result = clustering.cluster_by_edit_distance(sequences)
  assert result.stats.num_segments == 6
  assert result.stats.segments_per_key == 1
  assert result.stats.max_shift == 2


def test_sequences_shorter_than_the_distance_compare_all_pairs():
  sequences = ['AAAA', 'AAAC', 'GGGGGGGGGGGGGGG', 'TT', 'CCCCCCCCCCGG']
  truth, _ = _truth(sequences)
  result = clustering.cluster_by_edit_distance(sequences)
  assert clustering.same_partition(truth, result.cluster_ids)
  assert result.stats.checked_pairs == 10
