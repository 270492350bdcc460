"""Seeds for the design walkers: experimental (by evidence) and ML seeds.

The paper walked from three kinds of seeds: random sequences, experimental
seeds (the best-supported binders of the original selection) and ML seeds
(the best of many random sequences as scored by the model, the original's
`search_inference`: 1000 batches of 10,000 random 40-mers, keeping the top
2,000).
"""

import math
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

from components.design import constraints as constraints_lib
from components.design import walkers

ProgressFn = Callable[[int, int], None]

# Random sequences of ml_seeds are drawn in blocks of this many; block b has
# its own rng, so the sequences do not depend on the batch size.
_BLOCK_SIZE = 1000
_NUM_BASES = len(constraints_lib.DNA_BASES)


class SeedSelectionError(ValueError):
  """Bad arguments for choosing seeds, or a scorer that misbehaved."""


def top_by_evidence(
  sequences: Sequence[str],
  evidence: Sequence[float],
  num_seeds: int,
  constraints: Optional[constraints_lib.DesignConstraints] = None,
) -> List[str]:
  """The experimental seeds: the sequences with the most binding evidence.

  Args:
    sequences: Candidate sequences (for example the observed ones).
    evidence: One value per sequence, higher = stronger evidence of binding
      (for example a positive/negative enrichment). NaN values are skipped.
    num_seeds: How many seeds to return (fewer if fewer qualify).
    constraints: If given, only sequences whose composition it allows
      (length, letters, G+C, motifs) qualify. Its avoid set is ignored
      because seeds are usually observed sequences.

  Returns:
    Distinct sequences, highest evidence first; ties broken by sequence.

  Raises:
    SeedSelectionError: If the lengths differ or num_seeds is negative.
  """
  evidence = np.asarray(evidence, dtype=float).reshape(-1)
  if len(sequences) != evidence.shape[0]:
    raise SeedSelectionError(
      f'{len(sequences)} sequences but {evidence.shape[0]} evidence values'
    )
  if num_seeds < 0:
    raise SeedSelectionError(f'num_seeds must be >= 0, got {num_seeds}')
  order = sorted(
    (
      (-value, sequence)
      for sequence, value in zip(sequences, evidence.tolist())
      if not math.isnan(value)
      and (constraints is None or constraints.allows_composition(sequence))
    ),
  )
  seeds, chosen = [], set()
  for _, sequence in order:
    if len(seeds) == num_seeds:
      break
    if sequence not in chosen:
      chosen.add(sequence)
      seeds.append(sequence)
  return seeds


def _random_block(random_seed: int, block: int, length: int) -> np.ndarray:
  rng = np.random.default_rng(
    np.random.SeedSequence(random_seed, spawn_key=(block,))
  )
  return rng.integers(0, _NUM_BASES, size=(_BLOCK_SIZE, length), dtype=np.uint8)


def random_sequence_codes(
  random_seed: int, start: int, stop: int, length: int
) -> np.ndarray:
  """Base codes of random sequences number start..stop-1 of a seed's stream.

  Sequence i depends only on (random_seed, i), not on how the stream is cut
  into batches.

  Args:
    random_seed: Seed of the stream.
    start: First sequence number.
    stop: One past the last sequence number.
    length: Sequence length.

  Returns:
    uint8 codes (A=0, C=1, G=2, T=3) of shape [stop - start, length].
  """
  first_block, last_block = start // _BLOCK_SIZE, (stop - 1) // _BLOCK_SIZE
  if stop <= start:
    return np.zeros((0, length), dtype=np.uint8)
  blocks = np.concatenate(
    [
      _random_block(random_seed, block, length)
      for block in range(first_block, last_block + 1)
    ]
  )
  offset = start - first_block * _BLOCK_SIZE
  return blocks[offset : offset + stop - start]


def ml_seeds(
  score_fn: walkers.ScoreFn,
  sequence_length: int,
  num_sequences: int,
  keep: int,
  batch_size: int = 10_000,
  random_seed: int = walkers.DEFAULT_RANDOM_SEED,
  progress: Optional[ProgressFn] = None,
) -> Tuple[List[str], np.ndarray]:
  """The ML seeds: the best-scoring of many uniform random sequences.

  Scores `num_sequences` random sequences in batches of `batch_size` and
  keeps a streaming top-`keep`, so memory is O(keep + batch_size). The
  sequences depend only on `random_seed` (not on `batch_size`), so with a
  deterministic score_fn the result does not depend on `batch_size`.
  Ranking: score descending, ties by sequence; NaN scores are dropped and a
  sequence drawn twice is kept once.

  Args:
    score_fn: Scores sequences, higher = better binder.
    sequence_length: Length of the random sequences (40 in the paper).
    num_sequences: How many random sequences to score (10^7 originally).
    keep: How many of the best to keep (2,000 originally).
    batch_size: Sequences per score_fn call (10,000 originally).
    random_seed: Seed of the random sequences.
    progress: Optional callable(done, total) called after every batch.

  Returns:
    (sequences, scores), best first.

  Raises:
    SeedSelectionError: On bad arguments or a score_fn returning the wrong
      number of scores.
  """
  for name, value in (
    ('sequence_length', sequence_length),
    ('num_sequences', num_sequences),
    ('keep', keep),
    ('batch_size', batch_size),
  ):
    if value < 1:
      raise SeedSelectionError(f'{name} must be >= 1, got {value}')
  best_bytes = np.zeros(0, dtype=f'S{sequence_length}')
  best_scores = np.zeros(0, dtype=float)
  lookup = np.frombuffer(constraints_lib.DNA_BASES.encode('ascii'), np.uint8)
  for start in range(0, num_sequences, batch_size):
    stop = min(start + batch_size, num_sequences)
    codes = random_sequence_codes(random_seed, start, stop, sequence_length)
    letters = lookup[codes]
    batch_bytes = letters.view(f'S{sequence_length}').reshape(-1)
    text = letters.tobytes().decode('ascii')
    batch = [
      text[i : i + sequence_length]
      for i in range(0, len(text), sequence_length)
    ]
    scores = np.asarray(score_fn(batch), dtype=float).reshape(-1)
    if scores.shape[0] != len(batch):
      raise SeedSelectionError(
        f'score_fn returned {scores.shape[0]} scores for {len(batch)} '
        f'sequences (batch starting at {start})'
      )
    usable = ~np.isnan(scores)
    if best_scores.shape[0] == keep:
      # Only sequences at least as good as the current k-th can enter.
      usable &= scores >= best_scores[-1]
    best_bytes, best_scores = _top(
      np.concatenate([best_bytes, batch_bytes[usable]]),
      np.concatenate([best_scores, scores[usable]]),
      keep,
    )
    if progress is not None:
      progress(stop, num_sequences)
  return [b.decode('ascii') for b in best_bytes.tolist()], best_scores


def _top(
  sequences: np.ndarray, scores: np.ndarray, keep: int
) -> Tuple[np.ndarray, np.ndarray]:
  """The `keep` best distinct sequences: score descending, ties by sequence."""
  order = np.lexsort((sequences, -scores))
  sequences, scores = sequences[order], scores[order]
  # A sequence drawn twice is kept once, at its best-ranked position.
  _, first = np.unique(sequences, return_index=True)
  first.sort()
  return sequences[first][:keep], scores[first][:keep]
