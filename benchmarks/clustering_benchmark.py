"""Edit-distance clustering: time, memory and recall against brute force.

Generates N unique sequences of one length (40 by default): half of them in
families (a random parent and its mutants, each 1..--max_edits random
substitutions, insertions or deletions, the length kept by trimming or
appending at the 3' end; family sizes geometric with mean --family_mean,
plus one family of --big_family members per 200,000 sequences), the rest
uniform random. Then, in one process run:

  * clusters all N with `cluster_by_edit_distance` (distance <= 5), timed,
    with the peak resident memory of the process;
  * draws a sample of --sample sequences: whole families, chosen at
    random, for three quarters of it and random sequences for the rest, and
    finds every pair within distance 5 of the sample by brute force
    (rapidfuzz cdist on all pairs);
  * reports, on the sample: the co-cluster recall (brute-force pairs whose
    two ends the N-sequence run put in one cluster) and the edge recall of
    the candidate scheme (the sample clustered again with the N-sequence
    run's segments and shifts, every candidate verified: brute-force pairs
    found as edges);
  * and on the closure of the sample (every sequence the N-sequence run put
    in a cluster with a sampled one): whether the run's clusters equal the
    brute-force components of the closure. Found clusters only join true
    neighbours, so a difference is a join the run missed; bridges through
    sequences outside the closure are not checked.

Usage:
  python benchmarks/clustering_benchmark.py [--count 1000000] \
      [--sample 20000] [--workers 2] [--seed 0]
"""

import argparse
import os
import resource
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402

from components.data import clustering  # noqa: E402

_BASES = np.frombuffer(b'ACGT', np.uint8)


def _rss_gib(peak: bool) -> float:
  if peak:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  with open('/proc/self/statm') as f:
    pages = int(f.read().split()[1])
  return pages * os.sysconf('SC_PAGE_SIZE') / 2**30


def _mutate(codes, max_edits, rng):
  """Applies 1..max_edits random edits to each row, keeping the length."""
  count, length = codes.shape
  edits = rng.integers(1, max_edits + 1, count)
  column = np.arange(length)
  rows = np.arange(count)[:, None]
  for round_ in range(max_edits):
    active = edits > round_
    op = rng.integers(0, 3, count)
    position = rng.integers(0, length, count)[:, None]
    base = rng.integers(0, 4, count).astype(np.uint8)
    tail = rng.integers(0, 4, count).astype(np.uint8)
    source = np.where(op[:, None] == 1, column - (column > position), column)
    source = np.where(op[:, None] == 2, column + (column >= position), source)
    edited = codes[rows, np.minimum(source, length - 1)]
    edited[:, -1] = np.where(op == 2, tail, edited[:, -1])
    substitute = (op == 0) | (op == 1)
    at = edited[rows[:, 0], position[:, 0]]
    edited[rows[:, 0], position[:, 0]] = np.where(substitute, base, at)
    codes = np.where(active[:, None], edited, codes)
  return codes


def make_sequences(count, length, family_mean, big_family, max_edits, seed):
  """Returns (unique sequences, family id per sequence, 0 for random)."""
  rng = np.random.default_rng(seed)
  in_families = count // 2
  sizes = [big_family] * max(1, count // 200_000)
  while sum(sizes) < in_families:
    sizes.append(int(rng.geometric(1 / family_mean)))
  parents = rng.integers(0, 4, (len(sizes), length)).astype(np.uint8)
  family = np.repeat(np.arange(1, len(sizes) + 1), sizes)
  members = parents[family - 1]
  is_parent = np.r_[0, np.cumsum(sizes)[:-1]]
  mutated = _mutate(members, max_edits, rng)
  mutated[is_parent] = members[is_parent]
  randoms = rng.integers(0, 4, (count, length)).astype(np.uint8)
  codes = np.concatenate([mutated, randoms])
  family = np.concatenate([family, np.zeros(count, np.int64)])
  raw = np.ascontiguousarray(_BASES[codes]).view(f'S{length}').ravel()
  _, first = np.unique(raw, return_index=True)
  first = np.sort(first)[:count]
  sequences = [s.decode() for s in raw[first]]
  return sequences, family[first]


def _sample(family, size, rng):
  """Indices of whole random families (3/4) and random sequences (1/4)."""
  ids = rng.permutation(np.unique(family[family > 0]))
  members = np.split(
    np.argsort(family, kind='stable'), np.cumsum(np.bincount(family))[:-1]
  )
  chosen, total = [], 0
  for fid in ids:
    if total >= size * 3 // 4:
      break
    chosen.append(members[fid])
    total += len(members[fid])
  randoms = np.flatnonzero(family == 0)
  chosen.append(rng.choice(randoms, size - total, replace=False))
  return np.sort(np.concatenate(chosen))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--count', type=int, default=1_000_000)
  parser.add_argument('--length', type=int, default=40)
  parser.add_argument('--sample', type=int, default=20_000)
  parser.add_argument('--family_mean', type=float, default=20.0)
  parser.add_argument('--big_family', type=int, default=2000)
  parser.add_argument('--max_edits', type=int, default=3)
  parser.add_argument('--max_distance', type=int, default=5)
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  if args.sample > args.count:
    parser.error('--sample must not exceed --count')

  print(f'cpus: {os.cpu_count()}, load average before: {os.getloadavg()}')
  start = time.perf_counter()
  sequences, family = make_sequences(
    args.count,
    args.length,
    args.family_mean,
    args.big_family,
    args.max_edits,
    args.seed,
  )
  print(
    f'generated {len(sequences)} sequences in '
    f'{time.perf_counter() - start:.1f} s',
    flush=True,
  )
  rss_before = _rss_gib(peak=False)
  start = time.perf_counter()
  result = clustering.cluster_by_edit_distance(
    sequences, max_distance=args.max_distance, workers=args.workers
  )
  cluster_s = time.perf_counter() - start
  peak = _rss_gib(peak=True)
  stats = result.stats
  print(f'clustered in {cluster_s:.1f} s: {stats}', flush=True)

  rng = np.random.default_rng(args.seed + 1)
  sample = _sample(family, args.sample, rng)
  sampled = [sequences[i] for i in sample]
  start = time.perf_counter()
  brute = clustering.brute_force_edges(
    sampled, args.max_distance, workers=args.workers
  )
  brute_s = time.perf_counter() - start
  found_ids = result.cluster_ids[sample]
  # Found clusters only join true neighbours; closing the sample under them
  # brings in the outside sequences that can bridge sampled ones.
  closure = np.flatnonzero(np.isin(result.cluster_ids, found_ids))
  closed = [sequences[i] for i in closure]
  truth = clustering.components(
    len(closed),
    clustering.brute_force_edges(closed, args.max_distance, args.workers),
  )
  again = clustering.cluster_by_edit_distance(
    sampled,
    max_distance=args.max_distance,
    max_shift=stats.max_shift,
    hash_length=stats.hash_length,
    num_segments=stats.num_segments,
    workers=args.workers,
    return_edges=True,
  )
  row = {
    'sequences': f'{stats.num_sequences:,}',
    'cluster s': f'{cluster_s:.1f}',
    'peak RSS GiB (before)': f'{peak:.2f} ({rss_before:.2f})',
    'S / per key / shifts': (
      f'{stats.num_segments} / {stats.segments_per_key} / +-{stats.max_shift}'
    ),
    'passes': stats.passes,
    'candidate pairs': f'{stats.candidate_pairs:,}',
    'checked pairs': f'{stats.checked_pairs:,}',
    'verified edges': f'{stats.verified_edges:,}',
    'clusters': f'{stats.num_clusters:,}',
    'capped buckets': stats.capped_buckets,
    'sample (brute s)': f'{len(sampled):,} ({brute_s:.0f})',
    'sample pairs <= d': f'{len(brute):,}',
    'edge recall': f'**{clustering.edge_recall(again.edges, brute):.4f}**',
    'co-cluster recall': (
      f'{clustering.co_cluster_recall(found_ids, brute):.5f}'
    ),
    'closure: size, clusters found / brute force (same partition)': (
      f'{len(closure):,}, '
      f'{len(np.unique(result.cluster_ids[closure])):,} / '
      f'{len(np.unique(truth)):,} '
      f'({clustering.same_partition(truth, result.cluster_ids[closure])})'
    ),
    'load (1 min)': f'{os.getloadavg()[0]:.2f}',
  }
  print()
  print('| ' + ' | '.join(row) + ' |')
  print('|' + '---|' * len(row))
  print('| ' + ' | '.join(str(v) for v in row.values()) + ' |')
  print(
    '\nCommand: python benchmarks/clustering_benchmark.py '
    + ' '.join(sys.argv[1:])
  )


if __name__ == '__main__':
  main()
