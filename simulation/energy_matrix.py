"""A learnable background term of the target dG: an energy matrix.

Sort-seq models of binding (Kinney et al., PNAS 2010) write a molecule's
energy as a sum of per-position base contributions plus couplings between
neighbouring positions. Here every sequence gets

  term = (sum_i A[i, s_i] + sum_i B[i, s_i, s_{i+1}] - reference mean)
         / reference sd,

with A and B drawn once per sequence length from a fixed seed (couplings at
`COUPLING_SHARE` of the variance), standardised by a fixed sample of
uniform random sequences, as `simulation/structure.py` does for the MFE.
The term depends on nothing but the sequence, so a model can learn it from
counts and rank unseen sequences by it; the landscape's per-sequence noise
term cannot be learned.
"""

import functools
from typing import Sequence
from typing import Tuple

import numpy as np

_ALPHABET = 'ACGT'
_SEED = 20210423
REFERENCE_SIZE = 20000
# Share of the term's variance from the neighbour couplings (epistasis).
COUPLING_SHARE = 0.3


@functools.cache
def _matrices(length: int) -> Tuple[np.ndarray, np.ndarray]:
  """(A [length, 4], B [length - 1, 4, 4]), unit variance per position."""
  rng = np.random.default_rng((_SEED, length))
  additive = rng.standard_normal((length, 4))
  additive -= additive.mean(axis=1, keepdims=True)
  couplings = rng.standard_normal((max(length - 1, 0), 4, 4))
  # Over uniform bases each position's additive variance is mean(A^2); scale
  # both parts so that their variances split as COUPLING_SHARE says.
  additive *= np.sqrt((1 - COUPLING_SHARE) / np.mean(additive**2))
  if couplings.size:
    couplings -= couplings.mean(axis=(1, 2), keepdims=True)
    couplings *= np.sqrt(COUPLING_SHARE / np.mean(couplings**2))
  return additive, couplings


def _codes(sequences: Sequence[str]) -> np.ndarray:
  joined = ''.join(sequences).encode('ascii')
  lookup = np.full(256, 255, np.uint8)
  for i, base in enumerate(_ALPHABET):
    lookup[ord(base)] = i
  codes = lookup[np.frombuffer(joined, np.uint8)]
  if (codes == 255).any():
    raise ValueError('energy matrix: sequences must be over ACGT')
  return codes.reshape(len(sequences), -1).astype(np.int64)


def raw_energy(sequences: Sequence[str]) -> np.ndarray:
  """The unstandardised matrix energy of sequences of one length."""
  lengths = {len(s) for s in sequences}
  if len(lengths) != 1:
    raise ValueError(f'sequences of several lengths: {sorted(lengths)}')
  length = lengths.pop()
  additive, couplings = _matrices(length)
  codes = _codes(sequences)
  positions = np.arange(length)
  energy = additive[positions, codes].sum(axis=1)
  if length > 1:
    energy += couplings[positions[:-1], codes[:, :-1], codes[:, 1:]].sum(axis=1)
  return energy


@functools.cache
def reference_statistics(length: int) -> Tuple[float, float]:
  """(mean, sd) of the raw energy of uniform random sequences of length."""
  rng = np.random.default_rng((_SEED + 1, length))
  codes = rng.integers(0, 4, (REFERENCE_SIZE, length))
  sample = [''.join(_ALPHABET[c] for c in row) for row in codes]
  energy = raw_energy(sample)
  return float(energy.mean()), float(energy.std())


def standardised_energy(sequences: Sequence[str]) -> np.ndarray:
  """(raw energy - reference mean) / reference sd; [num_sequences] float64.

  Raises:
    ValueError: sequences of several lengths, or a letter outside ACGT.
  """
  if not len(sequences):
    return np.zeros(0, np.float64)
  length = len(sequences[0])
  mean, sd = reference_statistics(length)
  return (raw_energy(sequences) - mean) / max(sd, 1e-9)
