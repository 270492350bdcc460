"""Tests of simulation/energy_matrix.py and the landscapes' matrix term."""

import dataclasses

import numpy as np
import pytest

from simulation import energy_matrix
from simulation import landscapes
from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError


def _random(n, length, seed):
  rng = np.random.default_rng(seed)
  return [''.join(rng.choice(list('ACGT'), length)) for _ in range(n)]


def test_raw_energy_is_the_sum_of_positions_and_neighbour_pairs():
  additive, couplings = energy_matrix._matrices(6)
  sequence = 'ACGTTG'
  codes = ['ACGT'.index(b) for b in sequence]
  expected = sum(additive[i, c] for i, c in enumerate(codes)) + sum(
    couplings[i, codes[i], codes[i + 1]] for i in range(5)
  )
  assert energy_matrix.raw_energy([sequence])[0] == pytest.approx(expected)


def test_couplings_carry_their_share_of_the_variance():
  additive, couplings = energy_matrix._matrices(40)
  additive_var = np.mean(additive**2, axis=1).sum()
  coupling_var = np.mean(couplings**2, axis=(1, 2)).sum()
  share = coupling_var / (additive_var + coupling_var)
  assert share == pytest.approx(energy_matrix.COUPLING_SHARE, abs=0.01)


def test_random_sequences_are_standardised_and_the_term_is_fixed():
  sample = _random(5000, 40, seed=7)
  term = energy_matrix.standardised_energy(sample)
  assert abs(term.mean()) < 0.05
  assert term.std() == pytest.approx(1.0, abs=0.05)
  # The same sequence gets the same term alone or in any batch.
  again = energy_matrix.standardised_energy(sample[10:20][::-1])
  np.testing.assert_allclose(again[::-1], term[10:20])


def test_bad_sequences_are_refused():
  with pytest.raises(ValueError, match='several lengths'):
    energy_matrix.standardised_energy(['ACGT', 'ACG'])
  with pytest.raises(ValueError, match='ACGT'):
    energy_matrix.standardised_energy(['ACGN'])
  assert energy_matrix.standardised_energy([]).shape == (0,)


@pytest.mark.parametrize('name', sorted(landscapes.LANDSCAPES))
def test_every_landscape_adds_the_weighted_matrix_to_the_target_only(name):
  config = SimulationConfig(binding_noise_scale=0.0)
  sample = _random(50, 40, seed=3)
  plain = landscapes.from_config(dataclasses.replace(config, landscape=name))
  weighted = landscapes.from_config(
    dataclasses.replace(config, landscape=name, matrix_weight=0.6)
  )
  rng = np.random.default_rng(0)
  base_t, base_s = plain.energies(sample, rng, config)
  t, s = weighted.energies(sample, rng, config)
  np.testing.assert_allclose(
    t - base_t, 0.6 * energy_matrix.standardised_energy(sample)
  )
  np.testing.assert_allclose(s, base_s)


def test_the_config_checks_the_weight():
  with pytest.raises(SimulationConfigError, match='matrix_weight'):
    SimulationConfig(matrix_weight=float('nan')).validate(30)
