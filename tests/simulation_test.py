"""Tests of the particle-display simulator (simulation/)."""

import csv
import glob
import gzip
import os

import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

from schema import experiment as experiment_lib
from simulation import binding
from simulation import cli
from simulation import design
from simulation import landscapes
from simulation import rounds as rounds_lib
from simulation import selection
from simulation import structure
from simulation import writer
from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError
from simulation.rounds import RoundSpec
from simulation.simulator import simulate

# Small but with a clear signal: 3,000 members, top 1% = 30 sequences.
SMALL = SimulationConfig(
  num_families=500, mutants_per_family=5, depth=20000, seed=7
)
NO_SERUM = ('high', 'medium', 'low')


@pytest.fixture(scope='module')
def result():
  return simulate(SMALL)


@pytest.fixture(scope='module')
def dataset(result, tmp_path_factory):
  out = str(tmp_path_factory.mktemp('sim') / 'dataset')
  writer.write_dataset(result, out)
  return out


def _read_examples(directory):
  files = sorted(glob.glob(os.path.join(directory, writer.EXAMPLES_PATTERN)))
  assert files
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  return [tf.train.Example.FromString(r.numpy()) for r in dataset]


def _top1(result):
  return result.target_kd <= np.quantile(result.target_kd, 0.01)


def _pos_neg(result, stringency, serum='no_serum'):
  name = f'round2_{stringency}_{serum}'
  return result.counts[f'{name}_positive'], result.counts[f'{name}_negative']


def _file_bytes(directory):
  return {
    name: open(os.path.join(directory, name), 'rb').read()
    for name in sorted(os.listdir(directory))
  }


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path):
  config = SimulationConfig(num_families=60, mutants_per_family=3, depth=3000)
  for name, seed in (('a', 1), ('b', 1), ('c', 2)):
    writer.write_dataset(
      simulate(SimulationConfig(**{**config.__dict__, 'seed': seed})),
      str(tmp_path / name),
    )
  a, b, c = (_file_bytes(str(tmp_path / n)) for n in 'abc')
  assert a == b
  assert a.keys() == c.keys()
  for name in a:
    if name != experiment_lib.EXPERIMENT_FILENAME:
      assert a[name] != c[name], name


def test_dataset_follows_the_data_contract(result, dataset):
  assert sorted(os.listdir(dataset)) == [
    'examples-00000-of-00001.tfrecord.gz',
    'experiment.pbtxt',
    'ground_truth.csv.gz',
    'truth_model.json',
    writer.UNSEEN_FILENAME,
  ]
  experiment = experiment_lib.load_experiment(
    os.path.join(dataset, 'experiment.pbtxt')
  )
  assert experiment.sequence_length == SMALL.sequence_length
  assert experiment.template_sequence == 'N' * SMALL.sequence_length
  assert experiment.forward_primer and experiment.reverse_primer
  count_names = experiment_lib.all_count_names(experiment)
  assert 'library' in count_names

  examples = _read_examples(dataset)
  assert len(examples) == result.observed.sum()
  sequences = set()
  for example in examples:
    feature = example.features.feature
    assert set(feature) == {'sequence', 'cluster', *count_names}
    sequence = feature['sequence'].bytes_list.value[0].decode()
    assert len(sequence) == SMALL.sequence_length
    assert set(sequence) <= set('ACGT')
    sequences.add(sequence)
    assert len(feature['cluster'].int64_list.value) == 1
    assert feature['cluster'].int64_list.value[0] >= 1
    counts = [feature[n].int64_list.value for n in count_names]
    assert all(len(c) == 1 and c[0] >= 0 for c in counts)
    assert any(c[0] > 0 for c in counts)  # only observed sequences
  assert len(sequences) == len(examples)


def test_ground_truth_matches_result_and_examples(result, dataset):
  with gzip.open(os.path.join(dataset, 'ground_truth.csv.gz'), 'rt') as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == list(writer.GROUND_TRUTH_COLUMNS)
  assert len(rows) == len(result.sequences)
  dg = np.array([float(r['target_dg']) for r in rows])
  kd = np.array([float(r['target_kd']) for r in rows])
  np.testing.assert_allclose(kd, 10.0**dg, rtol=1e-5)
  np.testing.assert_allclose(dg, result.target_dg, atol=1e-6)
  truth_cluster = {r['sequence']: int(r['cluster']) for r in rows}
  for example in _read_examples(dataset)[:500]:
    feature = example.features.feature
    sequence = feature['sequence'].bytes_list.value[0].decode()
    assert truth_cluster[sequence] == feature['cluster'].int64_list.value[0]


def test_default_experiment_design():
  experiment = design.build_experiment(SimulationConfig())
  assert experiment_lib.all_count_names(experiment) == sorted(
    [
      'library',
      'round2_high_no_serum_positive',
      'round2_high_no_serum_negative',
      'round2_medium_no_serum_positive',
      'round2_medium_no_serum_negative',
      'round2_low_no_serum_positive',
      'round2_low_no_serum_negative',
      'round2_high_with_serum_positive',
      'round2_medium_with_serum_positive',
    ]
  )
  assert 'library' not in experiment_lib.non_input_count_names(experiment)
  high = experiment.rounds['round2_high_with_serum']
  assert high.input == 'round1'
  assert dict(high.target_concentrations) == {'target': 32.0}
  assert dict(high.background_concentrations) == {'serum': 1000.0}
  ids = [
    reads.measurement_id
    for rnd in experiment.rounds.values()
    for reads in (rnd.positive_reads, rnd.negative_reads)
    if reads.name
  ]
  assert sorted(ids) == list(range(1, 10))
  assert experiment.rounds['library'].positive_reads.measurement_id == 1
  # The written text parses back with the schema's own validation.
  experiment_lib.parse_experiment(experiment_lib.to_text(experiment))


def test_target_occupancy_hand_computed():
  # theta = T / (K_T (1 + S/K_S) + T) = 10 / (10 * (1 + 1) + 10) = 1/3.
  np.testing.assert_allclose(
    binding.target_occupancy(np.array([10.0]), np.array([5.0]), 10.0, 5.0),
    [1 / 3],
  )
  assert binding.target_occupancy(np.array([1.0]), np.array([1.0]), 0, 0) == 0


def test_enrichment_tracks_true_affinity(result):
  affinity = -result.target_dg
  top = _top1(result)
  for stringency in NO_SERUM:
    pos, neg = _pos_neg(result, stringency)
    enrichment = np.log((pos + 1) / (neg + 1))
    seen = pos + neg > 0
    gap = enrichment[top & seen].mean() - enrichment[~top & seen].mean()
    assert gap > 2.0, (stringency, gap)
  # Spearman over sequences read in the sort; low stringency resolves the
  # most of the affinity range.
  pos, neg = _pos_neg(result, 'low')
  seen = pos + neg >= 5
  rho = stats.spearmanr(affinity[seen], np.log((pos + 1) / (neg + 1))[seen])
  assert rho.statistic > 0.6


def test_higher_stringency_selects_more_strongly(result):
  top = _top1(result)
  top_read_share = []
  collected = []
  for stringency in NO_SERUM:
    pos, _ = _pos_neg(result, stringency)
    top_read_share.append(pos[top].sum() / pos.sum())
    sort = result.sorts[f'round2_{stringency}_no_serum']
    collected.append(sort.collected / sort.screened)
  assert top_read_share[0] > top_read_share[1] > top_read_share[2]
  assert collected[0] < collected[1] < collected[2]


def test_serum_reduces_positive_reads_of_serum_binders(result):
  no_serum, _ = _pos_neg(result, 'high')
  with_serum = result.counts['round2_high_with_serum_positive']
  target_binder = result.target_dg < np.quantile(result.target_dg, 0.1)
  # [S]/K_S > 3: serum takes most of these sequences off the target.
  serum_binder = result.serum_dg < SMALL.serum_dg_mean - 1.5
  both = target_binder & serum_binder
  only_target = target_binder & ~serum_binder
  assert both.sum() >= 10
  ratio_both = with_serum[both].sum() / no_serum[both].sum()
  ratio_only = with_serum[only_target].sum() / no_serum[only_target].sum()
  assert ratio_both < 0.5 * ratio_only


def test_families_share_cluster_and_are_point_mutants(result):
  codes = np.array([list(s) for s in result.sequences])
  assert len(set(result.sequences)) == len(result.sequences)
  clusters = np.unique(result.cluster)
  np.testing.assert_array_equal(clusters, np.arange(1, SMALL.num_families + 1))
  assert result.cluster.dtype == np.int64
  parents = []
  for c in clusters:
    members = np.flatnonzero(result.cluster == c)
    assert len(members) == 1 + SMALL.mutants_per_family
    assert result.is_parent[members].sum() == 1
    parent = members[result.is_parent[members]][0]
    parents.append(parent)
    distance = (codes[members] != codes[parent]).sum(axis=1)
    mutants = distance[members != parent]
    assert mutants.min() >= 1 and mutants.max() <= SMALL.max_mutations
  parent_codes = codes[parents]
  distance = (parent_codes[:, None, :] != parent_codes[None, :, :]).sum(-1)
  np.fill_diagonal(distance, SMALL.sequence_length)
  assert distance.min() > 2 * SMALL.max_mutations


@pytest.mark.parametrize(
  'overrides, message',
  [
    ({'depth': -5}, 'depth must be a positive integer'),
    ({'num_families': 0}, 'num_families must be a positive integer'),
    ({'sequence_length': 8}, 'sequence_length must be >= 16'),
    ({'mutants_per_family': -1}, 'mutants_per_family must be >= 0'),
    ({'binding_energy_correlation': 1.5}, 'binding_energy_correlation'),
    ({'sort_impurity': -0.1}, 'sort_impurity must be in'),
    ({'stringencies': ()}, 'stringencies must name at least one'),
    ({'serum_stringencies': ('extreme',)}, "serum_stringencies \\['extreme'"),
    ({'gate': float('nan')}, 'gate must be finite'),
    ({'landscape': 'flat'}, 'valid landscapes: motif, motif_epistasis'),
    ({'unseen_max_hamming': 41}, 'unseen_max_hamming .41. cannot exceed'),
    ({'unseen_random': -1}, 'unseen_random must be >= 0'),
    ({'nonspecific_retention': 2.0}, 'nonspecific_retention must be in'),
  ],
)
def test_bad_arguments_raise_clear_errors(overrides, message):
  with pytest.raises(SimulationConfigError, match=message):
    simulate(SimulationConfig(**{**SMALL.__dict__, **overrides}))


def test_too_many_mutants_for_the_sequence_space():
  config = SimulationConfig(
    num_families=5, mutants_per_family=60, max_mutations=1, sequence_length=16
  )
  with pytest.raises(SimulationConfigError, match='distinct mutants'):
    simulate(config)


def test_cli_writes_dataset_and_summary(tmp_path, capsys):
  out = str(tmp_path / 'cli')
  args = ['--output_dir', out, '--num_families', '40', '--depth', '2000']
  first = ['--stringencies', 'high=10,low=100', '--serum_stringencies', 'high']
  assert cli.main(args + first) == 0
  printed = capsys.readouterr().out
  assert 'round2_low_no_serum_positive' in printed
  assert f'to {out}' in printed
  experiment = experiment_lib.load_experiment(
    os.path.join(out, 'experiment.pbtxt')
  )
  assert 'round2_medium_no_serum' not in experiment.rounds
  # An existing dataset is kept unless --overwrite.
  with pytest.raises(SystemExit) as exit_info:
    cli.main(args)
  assert exit_info.value.code == 2
  assert 'exists and is not an empty directory' in capsys.readouterr().err
  assert cli.main(args + ['--overwrite']) == 0
  experiment = experiment_lib.load_experiment(
    os.path.join(out, 'experiment.pbtxt')
  )
  assert 'round2_medium_no_serum' in experiment.rounds


def test_cli_rejects_bad_arguments(tmp_path, capsys):
  out = str(tmp_path / 'bad')
  with pytest.raises(SystemExit) as exit_info:
    cli.main(['--output_dir', out, '--depth', '-3'])
  assert exit_info.value.code == 2
  assert 'depth must be a positive integer' in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(['--output_dir', out, '--stringencies', 'high'])
  assert 'name=concentration' in capsys.readouterr().err
  assert not os.path.exists(out)


def test_failed_write_leaves_nothing(result, tmp_path, monkeypatch):
  def fail(*unused_args):
    raise OSError('disk full')

  monkeypatch.setattr(writer, '_write_ground_truth', fail)
  with pytest.raises(OSError, match='disk full'):
    writer.write_dataset(result, str(tmp_path / 'out'))
  assert os.listdir(tmp_path) == []


def test_explicit_ngal_rounds_reproduce_the_default_design(result):
  rounds = design.ngal_rounds(SMALL)
  assert [r.name for r in rounds][:2] == ['library', 'round1']
  explicit = simulate(SimulationConfig(**{**SMALL.__dict__, 'rounds': rounds}))
  assert explicit.count_names == result.count_names
  for name in result.count_names:
    np.testing.assert_array_equal(explicit.counts[name], result.counts[name])
  assert experiment_lib.to_text(explicit.experiment) == experiment_lib.to_text(
    result.experiment
  )


def test_selex_retains_occupancy_plus_nonspecific_retention():
  rng = np.random.default_rng(3)
  theta = np.array([0.0, 0.5, 1.0, 0.1])
  sort = selection.selex(np.ones(4), theta, 400000, 1e-3, rng)
  np.testing.assert_array_equal(sort.positive + sort.negative > 0, True)
  assert sort.screened == 400000
  retained = sort.positive / (sort.positive + sort.negative)
  np.testing.assert_allclose(retained, [1e-3, 0.501, 1.0, 0.101], atol=0.005)


def test_each_round_selects_from_its_input_rounds_pool():
  rounds = (
    RoundSpec('library', '', rounds_lib.RANDOM),
    RoundSpec('a', 'library', rounds_lib.PARTICLE_DISPLAY, 64.0),
    RoundSpec('b', 'a', rounds_lib.SELEX, 100.0, 1000.0),
  )
  sim = simulate(SimulationConfig(**{**SMALL.__dict__, 'rounds': rounds}))
  assert sim.count_names == ['a_positive', 'b_positive', 'library']
  in_a = sim.sorts['a'].positive > 0
  assert (sim.sorts['b'].positive + sim.sorts['b'].negative)[~in_a].sum() == 0
  assert (sim.counts['b_positive'][~in_a] == 0).all()
  b = sim.experiment.rounds['b']
  assert dict(b.background_concentrations) == {'serum': 1000.0}


def test_a_feeding_round_that_collects_nothing_is_an_error():
  config = SimulationConfig(
    **{**SMALL.__dict__, 'gate': 1e9, 'sort_impurity': 0.0}
  )
  with pytest.raises(SimulationConfigError, match='round1 collected nothing'):
    simulate(config)


def test_landscapes_share_motifs_and_differ_by_their_terms():
  sequences = [
    'GGTGGATAGTTGCCGT' + 'A' * 24,  # the epistatic pair
    'GGTGGATAG' + 'A' * 31,
    'A' * 40,
  ]
  config = SimulationConfig(binding_noise_scale=0.0)
  motif = landscapes.get_landscape('motif').energies(
    sequences, np.random.default_rng(0), config
  )
  epistasis = landscapes.get_landscape('motif_epistasis').energies(
    sequences, np.random.default_rng(0), config
  )
  np.testing.assert_allclose(motif[0], [1.5, 2.3, 3.5])
  np.testing.assert_allclose(epistasis[0] - motif[0], [-0.8, 0, 0], atol=1e-12)
  np.testing.assert_allclose(epistasis[1], motif[1])
  structured = landscapes.get_landscape('motif_structure', 0.5).energies(
    sequences, np.random.default_rng(0), config
  )
  np.testing.assert_allclose(
    structured[0] - motif[0], 0.5 * structure.standardised_mfe(sequences)
  )
  with pytest.raises(ValueError, match='valid landscapes: motif, '):
    landscapes.get_landscape('flat')
