"""The simulator's true energies of ANY sequence, for judging designs.

A designed sequence is usually outside the library, so its truth is not in
ground_truth.csv.gz. The oracle gives:

  * a library member or unseen sequence: its recorded energies;
  * any other sequence: the landscape's deterministic part plus a noise term
    drawn from a generator seeded by (simulation seed, sequence), so that a
    sequence has one truth however often, and in whatever batch, it is
    asked for.

The landscape and its parameters come from `truth_model.json`, which the
simulator writes beside the truth files.
"""

import csv
import dataclasses
import gzip
import hashlib
import json
import os
from typing import Dict
from typing import Sequence
from typing import Tuple

import numpy as np

from simulation import landscapes
from simulation.unseen import UNSEEN_FILENAME

TRUTH_MODEL_FILENAME = 'truth_model.json'
GROUND_TRUTH_FILENAME = 'ground_truth.csv.gz'
# The noise streams of designs must not repeat the library's.
_NOISE_DOMAIN = b'aptamer-tfx oracle noise v1'


class OracleError(ValueError):
  """A dataset has no truth the oracle can use."""


@dataclasses.dataclass(frozen=True)
class TruthModel:
  """What the oracle needs of a SimulationConfig (truth_model.json).

  Attributes:
    landscape: the landscape name (simulation/landscapes.py).
    structure_weight: its MFE weight (motif_structure only).
    matrix_weight: its energy matrix weight (0 in datasets written before
      the matrix term existed).
    target_dg_mean: mean log10 Kd of a motif-free sequence, target.
    serum_dg_mean: the same for serum.
    binding_noise_scale: standard deviation of the dG noise.
    binding_energy_correlation: correlation of target and serum noise.
    seed: the simulation's seed.
  """

  landscape: str
  structure_weight: float
  target_dg_mean: float
  serum_dg_mean: float
  binding_noise_scale: float
  binding_energy_correlation: float
  seed: int
  matrix_weight: float = 0.0

  @classmethod
  def of(cls, config) -> 'TruthModel':
    """The truth model of a SimulationConfig."""
    return cls(
      **{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)}
    )

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + '\n'


def _read_energies(path: str) -> Dict[str, Tuple[float, float]]:
  with gzip.open(path, 'rt', newline='') as f:
    return {
      row['sequence']: (float(row['target_dg']), float(row['serum_dg']))
      for row in csv.DictReader(f)
    }


class TruthOracle:
  """True (target_dg, serum_dg) of any sequence of a simulated dataset."""

  def __init__(
    self,
    model: TruthModel,
    known: Dict[str, Tuple[float, float]],
    library: Sequence[str] = (),
  ):
    """Builds the oracle.

    Args:
      model: the landscape and its parameters.
      known: recorded energies by sequence (library and unseen sets).
      library: the library members (for `library_strength`).
    """
    self.model = model
    self._known = known
    self.library = tuple(library)
    self._landscape = landscapes.from_config(model)

  @classmethod
  def from_dataset(cls, dataset_dir: str) -> 'TruthOracle':
    """The oracle of a dataset the simulator wrote.

    Raises:
      OracleError: the dataset has no truth_model.json or ground truth.
    """
    path = os.path.join(dataset_dir, TRUTH_MODEL_FILENAME)
    truth = os.path.join(dataset_dir, GROUND_TRUTH_FILENAME)
    for needed in (path, truth):
      if not os.path.exists(needed):
        raise OracleError(
          f'{needed} not found: only a dataset written by `python -m '
          'simulation` (with its truth) can judge designs'
        )
    with open(path) as f:
      try:
        model = TruthModel(**json.load(f))
      except (TypeError, json.JSONDecodeError) as e:
        raise OracleError(f'{path}: not a truth model: {e}') from e
    known = _read_energies(truth)
    library = tuple(known)
    unseen = os.path.join(dataset_dir, UNSEEN_FILENAME)
    if os.path.exists(unseen):
      known.update(_read_energies(unseen))
    return cls(model, known, library)

  def _noise(self, sequences: Sequence[str]) -> np.ndarray:
    """[n, 2] correlated standard normals, one fixed pair per sequence.

    Box-Muller on four 32-bit uniforms hashed from (seed, sequence): the
    same sequence always gets the same pair, in any batch.
    """
    seed = str(self.model.seed).encode() + b'/'
    digests = b''.join(
      hashlib.blake2b(
        seed + s.encode(), digest_size=16, key=_NOISE_DOMAIN
      ).digest()
      for s in sequences
    )
    words = np.frombuffer(digests, '<u4').reshape(-1, 4).astype(np.float64)
    uniform = (words + 0.5) / 2.0**32  # In (0, 1), never 0.
    radius = np.sqrt(-2.0 * np.log(uniform[:, 0]))
    out = np.stack(
      [
        radius * np.cos(2 * np.pi * uniform[:, 1]),
        radius * np.sin(2 * np.pi * uniform[:, 1]),
      ],
      axis=1,
    ).reshape(-1, 2)
    rho = self.model.binding_energy_correlation
    out[:, 1] = rho * out[:, 0] + np.sqrt(1 - rho**2) * out[:, 1]
    return out

  def energies(
    self, sequences: Sequence[str], noise: bool = True
  ) -> Tuple[np.ndarray, np.ndarray]:
    """(target_dg, serum_dg) of each sequence, float64 arrays.

    Args:
      sequences: the sequences.
      noise: False gives the landscape's deterministic part only, for every
        sequence (library members too): the part of the truth a model can
        learn from sequence, since the noise term is independent per
        sequence.
    """
    sequences = list(sequences)
    target = np.empty(len(sequences))
    serum = np.empty(len(sequences))
    fresh = []
    for i, sequence in enumerate(sequences):
      known = self._known.get(sequence) if noise else None
      if known is None:
        fresh.append(i)
      else:
        target[i], serum[i] = known
    if fresh:
      new = [sequences[i] for i in fresh]
      # The deterministic part: the landscape without its noise.
      noiseless = dataclasses.replace(self.model, binding_noise_scale=0.0)
      t, s = self._landscape.energies(new, np.random.default_rng(0), noiseless)
      if noise:
        eps = self.model.binding_noise_scale * self._noise(new)
        t, s = t + eps[:, 0], s + eps[:, 1]
      target[fresh] = t
      serum[fresh] = s
    return target, serum

  def strength(
    self, sequences: Sequence[str], affinity: str, noise: bool = True
  ) -> np.ndarray:
    """True binding strength along a served affinity (higher = tighter).

    Args:
      sequences: the sequences.
      affinity: a served latent: 'target', 'serum', 'target_vs_serum'
        (tighter to the target, weaker to serum) or 'target_and_serum'.
      noise: as `energies`.

    Raises:
      OracleError: the affinity names a molecule the simulator lacks.
    """
    target, serum = self.energies(sequences, noise)
    dg = {'target': target, 'serum': serum}
    for joiner, sign in (('_vs_', -1.0), ('_and_', 1.0)):
      if joiner in affinity:
        first, second = affinity.split(joiner, 1)
        return -self._dg(dg, first, affinity) - sign * self._dg(
          dg, second, affinity
        )
    return -self._dg(dg, affinity, affinity)

  @staticmethod
  def _dg(dg, molecule, affinity):
    if molecule not in dg:
      raise OracleError(
        f'affinity_{affinity}: the simulator has no molecule {molecule!r} '
        f'(it knows {sorted(dg)})'
      )
    return dg[molecule]

  def library_strength(self, affinity: str) -> np.ndarray:
    """`strength` of every library member."""
    return self.strength(self.library, affinity)
