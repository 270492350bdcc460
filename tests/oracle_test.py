"""The simulator's oracle: the truth of any sequence, fixed per sequence."""

import dataclasses
import json
import os

import numpy as np
import pytest

from simulation import landscapes
from simulation import oracle
from simulation import scenarios
from simulation import simulator
from simulation import writer
from simulation.config import SimulationConfig


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  config = scenarios.configure(
    'serum_every_round', num_families=300, unseen_random=200, unseen_seeds=5
  )
  out = str(tmp_path_factory.mktemp('sim') / 'data')
  result = simulator.simulate(config)
  writer.write_dataset(result, out)
  return out, result


def test_library_members_get_their_recorded_truth(dataset):
  out, result = dataset
  truth = oracle.TruthOracle.from_dataset(out)
  target, serum = truth.energies(result.sequences[:50])
  # ground_truth.csv.gz rounds to 6 decimals.
  np.testing.assert_allclose(target, result.target_dg[:50], atol=1e-6)
  np.testing.assert_allclose(serum, result.serum_dg[:50], atol=1e-6)
  assert len(truth.library) == len(result.sequences)


def test_a_new_sequence_has_one_truth_whatever_the_batch(dataset):
  out, _ = dataset
  truth = oracle.TruthOracle.from_dataset(out)
  rng = np.random.default_rng(3)
  fresh = [''.join(rng.choice(list('ACGT'), 40)) for _ in range(200)]
  alone = np.array([truth.energies([s])[0][0] for s in fresh[:20]])
  together, _ = truth.energies(fresh[::-1])
  np.testing.assert_array_equal(alone, together[::-1][:20])
  again = oracle.TruthOracle.from_dataset(out).energies(fresh)[0]
  np.testing.assert_array_equal(again, together[::-1])


def test_new_sequences_follow_the_landscape_with_its_noise(dataset):
  out, result = dataset
  truth = oracle.TruthOracle.from_dataset(out)
  config = result.config
  rng = np.random.default_rng(5)
  fresh = [''.join(rng.choice(list('ACGT'), 40)) for _ in range(4000)]
  target, serum = truth.energies(fresh)
  landscape = landscapes.get_landscape(
    config.landscape, config.structure_weight
  )
  noiseless = dataclasses.replace(truth.model, binding_noise_scale=0.0)
  base_t, base_s = landscape.energies(fresh, rng, noiseless)
  noise = np.stack([target - base_t, serum - base_s])
  assert abs(noise[0].std() - config.binding_noise_scale) < 0.03
  assert abs(noise.mean()) < 0.03
  correlation = np.corrcoef(noise)[0, 1]
  assert abs(correlation - config.binding_energy_correlation) < 0.05


def test_strength_along_combined_affinities(dataset):
  out, result = dataset
  truth = oracle.TruthOracle.from_dataset(out)
  sequences = result.sequences[:10]
  t, s = truth.energies(sequences)
  np.testing.assert_allclose(truth.strength(sequences, 'target'), -t)
  np.testing.assert_allclose(
    truth.strength(sequences, 'target_vs_serum'), s - t
  )
  np.testing.assert_allclose(
    truth.strength(sequences, 'target_and_serum'), -t - s
  )
  with pytest.raises(oracle.OracleError, match="no molecule 'ngal'"):
    truth.strength(sequences, 'ngal')


def test_truth_model_records_the_config_and_is_required(dataset, tmp_path):
  out, result = dataset
  with open(os.path.join(out, oracle.TRUTH_MODEL_FILENAME)) as f:
    recorded = json.load(f)
  assert recorded['landscape'] == result.config.landscape
  assert recorded['seed'] == result.config.seed
  with pytest.raises(oracle.OracleError, match='truth_model.json not found'):
    oracle.TruthOracle.from_dataset(str(tmp_path))


def test_a_truth_model_written_before_the_matrix_term_reads_as_zero(tmp_path):
  values = json.loads(oracle.TruthModel.of(SimulationConfig()).to_json())
  del values['matrix_weight']
  (tmp_path / oracle.TRUTH_MODEL_FILENAME).write_text(json.dumps(values))
  with open(tmp_path / oracle.TRUTH_MODEL_FILENAME) as f:
    model = oracle.TruthModel(**json.load(f))
  assert model.matrix_weight == 0.0
  assert landscapes.from_config(model).matrix_weight == 0.0
