"""ViennaRNA minimum free energies of variable regions, for the landscapes.

The variable region is folded alone (no primers) with the pipeline's
default folding parameters (components/features/structure/folding.py: DNA
Mathews 2004 at 37 °C and standard salt), MFE only, which is about half the
cost of the full feature set (roughly 1 ms per 40-nt sequence).
`standardised_mfe` centres and scales MFEs by those of a fixed reference
sample of uniform random sequences of the same length, so a sequence's term
depends on nothing but the sequence: library members and unseen sequences
get theirs from the same function.
"""

import functools
from typing import Sequence

import numpy as np
import RNA

from components.features.structure import folding

PARAMETERS = folding.FoldingParameters()
# Uniform random sequences behind the standardisation, per length.
REFERENCE_SIZE = 1000
_REFERENCE_SEED = 20210422


def mfe(sequences: Sequence[str]) -> np.ndarray:
  """Minimum free energy (kcal/mol) of each sequence, [num_sequences]."""
  md, params, _ = folding.prepare(PARAMETERS)
  out = np.empty(len(sequences), np.float64)
  for i, sequence in enumerate(sequences):
    folding.check_sequence(sequence)
    compound = RNA.fold_compound(sequence, md, RNA.OPTION_MFE)
    # Folds with the requested set whatever the process loaded globally.
    compound.params_subst(params)
    out[i] = compound.mfe()[1]
  return out


@functools.cache
def reference_statistics(length: int):
  """(mean, standard deviation) of the MFE of random sequences of length."""
  rng = np.random.default_rng(_REFERENCE_SEED)
  codes = rng.integers(0, 4, (REFERENCE_SIZE, length))
  energies = mfe([''.join('ACGT'[c] for c in row) for row in codes])
  return float(energies.mean()), float(energies.std())


def standardised_mfe(sequences: Sequence[str]) -> np.ndarray:
  """(MFE - reference mean) / reference sd; negative = more stable.

  Args:
    sequences: sequences of one length over ACGT.

  Returns:
    [num_sequences] float64.
  """
  if not len(sequences):
    return np.zeros(0, np.float64)
  lengths = {len(s) for s in sequences}
  if len(lengths) != 1:
    raise ValueError(f'sequences of several lengths: {sorted(lengths)}')
  mean, sd = reference_statistics(lengths.pop())
  return (mfe(sequences) - mean) / max(sd, 1e-9)
