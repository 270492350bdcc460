"""Tests of the simulator's named scenarios, landscapes and unseen sequences."""

import csv
import dataclasses
import filecmp
import gzip
import os

import numpy as np
import pytest
from sklearn import metrics

from schema import experiment as experiment_lib
from schema import identifiability
import simulation
from simulation import binding
from simulation import cli
from simulation import design
from simulation import landscapes
from simulation import rounds as rounds_lib
from simulation import scenarios
from simulation import structure
from simulation import writer
from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError
from simulation.simulator import simulate

# 1,800 members and a small unseen set: every scenario in a few seconds.
SMALL = dict(
  num_families=300,
  mutants_per_family=5,
  depth=10000,
  unseen_random=300,
  unseen_seeds=5,
  unseen_mutants=3,
)
DATA_DEMO = os.path.join(os.path.dirname(__file__), '..', 'data', 'demo')
PD_COLUMNS = [
  f'round1_{s}_{pool}'
  for s in ('high', 'medium', 'low', 'lowest')
  for pool in ('positive', 'negative')
]
EXPECTED_COLUMNS = {
  'demo': [
    'library',
    'round2_high_no_serum_negative',
    'round2_high_no_serum_positive',
    'round2_high_with_serum_positive',
    'round2_low_no_serum_negative',
    'round2_low_no_serum_positive',
    'round2_medium_no_serum_negative',
    'round2_medium_no_serum_positive',
    'round2_medium_with_serum_positive',
  ],
  'serum_every_round': [
    'library',
    'round1_negative',
    'round1_positive',
    'round2_high_negative',
    'round2_high_positive',
    'round2_low_negative',
    'round2_low_positive',
    'round2_medium_negative',
    'round2_medium_positive',
  ],
  'single_round': sorted(['library'] + PD_COLUMNS),
  'single_round_background': sorted(['library'] + PD_COLUMNS),
  'selex': ['library'] + [f'round{i}_positive' for i in range(1, 5)],
}
EXPECTED_COLUMNS['demo_energy_matrix'] = EXPECTED_COLUMNS['demo']
_RESULTS = {}


def _result(name, **overrides):
  """A scenario simulated at the small size, cached per arguments."""
  key = (name, tuple(sorted(overrides.items())))
  if key not in _RESULTS:
    _RESULTS[key] = simulate(
      scenarios.configure(name, **{**SMALL, **overrides})
    )
  return _RESULTS[key]


def _read_csv(path):
  with gzip.open(path, 'rt', newline='') as f:
    reader = csv.reader(f)
    header = next(reader)
    return header, [dict(zip(header, row)) for row in reader]


def _selection_rounds(experiment):
  return {n: r for n, r in experiment.rounds.items() if r.input}


def _top(result, fraction=0.02):
  return result.target_kd <= np.quantile(result.target_kd, fraction)


def test_registry_has_the_scenarios_with_descriptions():
  assert set(EXPECTED_COLUMNS) <= set(scenarios.SCENARIOS)
  assert simulation.SCENARIOS is scenarios.SCENARIOS
  for name, scenario in scenarios.SCENARIOS.items():
    assert scenario.name == name
    assert scenario.description and '\n' not in scenario.description
  assert scenarios.SCENARIOS['demo'].config == SimulationConfig()
  used = {s.config.landscape for s in scenarios.SCENARIOS.values()}
  assert used == set(landscapes.LANDSCAPES)
  assert SimulationConfig().landscape == landscapes.MOTIF_EPISTASIS


@pytest.mark.parametrize('name', sorted(scenarios.SCENARIOS))
def test_every_scenario_builds_a_valid_experiment_and_simulates(name):
  config = scenarios.SCENARIOS[name].config
  experiment = design.build_experiment(config)
  experiment_lib.validate_experiment(experiment, name)
  experiment_lib.parse_experiment(experiment_lib.to_text(experiment))
  ids = sorted(
    reads.measurement_id
    for rnd in experiment.rounds.values()
    for reads in (rnd.positive_reads, rnd.negative_reads)
    if reads.name
  )
  assert ids == list(range(1, len(ids) + 1))
  assert experiment_lib.all_count_names(experiment) == EXPECTED_COLUMNS[name]

  result = _result(name)
  assert result.count_names == EXPECTED_COLUMNS[name]
  assert set(result.counts) == set(result.count_names)
  for column in result.count_names:
    assert result.counts[column].sum() == SMALL['depth'], column
  # Most of the library is read somewhere, as in the demo.
  assert 0.5 < result.observed.mean() <= 1.0


def test_serum_every_round_has_serum_in_every_selection_round():
  experiment = design.build_experiment(
    scenarios.SCENARIOS['serum_every_round'].config
  )
  assert len(experiment_lib.all_count_names(experiment)) == 9
  selection = _selection_rounds(experiment)
  assert sorted(selection) == [
    'round1',
    'round2_high',
    'round2_low',
    'round2_medium',
  ]
  for name, rnd in selection.items():
    assert dict(rnd.background_concentrations) == {'serum': 1000.0}, name
    assert rnd.positive_reads.name and rnd.negative_reads.name
    assert rnd.input == ('library' if name == 'round1' else 'round1')
  assert dict(selection['round1'].target_concentrations) == {'target': 1000.0}


@pytest.mark.parametrize(
  'name, serum', [('single_round', False), ('single_round_background', True)]
)
def test_single_round_sorts_the_library_at_several_stringencies(name, serum):
  experiment = design.build_experiment(scenarios.SCENARIOS[name].config)
  selection = _selection_rounds(experiment)
  assert len(selection) == 4
  concentrations = set()
  for rnd in selection.values():
    assert rnd.input == 'library'
    assert experiment_lib.Round.Method.Name(rnd.method) == 'PARTICLE_DISPLAY'
    assert rnd.positive_reads.name and rnd.negative_reads.name
    concentrations.add(rnd.target_concentrations['target'])
    assert bool(rnd.background_concentrations.get('serum')) == serum
  assert len(concentrations) == 4
  assert experiment.rounds['library'].positive_reads.name == 'library'


def test_selex_chains_rounds_with_positive_reads_only():
  experiment = design.build_experiment(scenarios.SCENARIOS['selex'].config)
  selection = _selection_rounds(experiment)
  assert sorted(selection) == ['round1', 'round2', 'round3', 'round4']
  previous = 'library'
  concentrations = []
  for i in range(1, 5):
    rnd = selection[f'round{i}']
    assert rnd.input == previous
    assert experiment_lib.Round.Method.Name(rnd.method) == 'SELEX'
    assert rnd.positive_reads.name == f'round{i}_positive'
    assert not rnd.HasField('negative_reads') or not rnd.negative_reads.name
    assert not rnd.background_concentrations.get('serum')
    concentrations.append(rnd.target_concentrations['target'])
    previous = f'round{i}'
  assert concentrations == sorted(concentrations, reverse=True)
  assert not any(n.endswith('_negative') for n in EXPECTED_COLUMNS['selex'])


@pytest.mark.parametrize(
  'name, separable, confounded',
  [
    ('demo', ('target', 'serum'), ()),
    ('serum_every_round', (), (('target', 'serum'),)),
    ('single_round', ('target',), ()),
    ('single_round_background', (), (('target', 'serum'),)),
    ('selex', ('target',), ()),
    ('demo_energy_matrix', ('target', 'serum'), ()),
  ],
)
def test_identifiability_of_each_design(name, separable, confounded):
  experiment = design.build_experiment(scenarios.SCENARIOS[name].config)
  found = identifiability.identifiability(experiment)
  assert found.separable == separable
  assert found.confounded_groups == confounded
  assert found.unobserved == ()


def test_top_binders_enrich_over_selex_rounds():
  result = _result('selex')
  top = _top(result)
  shares = [
    result.counts[column][top].sum() / result.counts[column].sum()
    for column in EXPECTED_COLUMNS['selex']
  ]
  assert all(a < b for a, b in zip(shares, shares[1:])), shares
  assert shares[-1] > 10 * shares[0], shares
  # The sorts record molecules, retained ones in the positive pool.
  for i in range(1, 5):
    sort = result.sorts[f'round{i}']
    assert 0 < sort.collected < sort.screened


@pytest.mark.parametrize('name', sorted(scenarios.SCENARIOS))
def test_top_binders_enrich_in_every_positive_pool(name):
  result = _result(name)
  top = _top(result)
  library = result.counts['library']
  base = library[top].sum() / library.sum()
  for column in result.count_names:
    if column.endswith('_positive'):
      counts = result.counts[column]
      assert counts[top].sum() / counts.sum() > 1.5 * base, column


def test_unseen_file_shape_kinds_and_distances(tmp_path):
  result = _result('serum_every_round')
  out = str(tmp_path / 'dataset')
  writer.write_dataset(result, out)
  header, rows = _read_csv(os.path.join(out, simulation.UNSEEN_FILENAME))
  assert tuple(header) == simulation.UNSEEN_COLUMNS == writer.UNSEEN_COLUMNS
  assert simulation.UNSEEN_FILENAME == 'unseen_sequences.csv.gz'
  per_seed = 4 * SMALL['unseen_mutants']
  assert len(rows) == SMALL['unseen_random'] + SMALL['unseen_seeds'] * per_seed

  library = set(result.sequences)
  length = result.config.sequence_length
  sequences = [r['sequence'] for r in rows]
  assert len(set(sequences)) == len(sequences)
  assert not library & set(sequences)
  for row in rows:
    assert len(row['sequence']) == length
    assert set(row['sequence']) <= set('ACGT')
    np.testing.assert_allclose(
      float(row['target_kd']), 10 ** float(row['target_dg']), rtol=1e-5
    )
    np.testing.assert_allclose(
      float(row['serum_kd']), 10 ** float(row['serum_dg']), rtol=1e-5
    )
  random_rows = [r for r in rows if r['kind'] == 'random']
  mutants = [r for r in rows if r['kind'] == 'mutant']
  assert len(random_rows) == SMALL['unseen_random']
  assert all(
    r['hamming'] == '0' and r['seed_sequence'] == '' for r in random_rows
  )

  # Seeds: the tightest target binders of the library.
  order = np.argsort(result.target_dg, kind='stable')
  expected_seeds = [result.sequences[i] for i in order[: SMALL['unseen_seeds']]]
  seeds = list(dict.fromkeys(r['seed_sequence'] for r in mutants))
  assert seeds == expected_seeds
  for seed in seeds:
    hammings = sorted(
      int(r['hamming']) for r in mutants if r['seed_sequence'] == seed
    )
    assert hammings == sorted([1, 2, 3, 4] * SMALL['unseen_mutants'])
  for row in mutants:
    distance = sum(
      a != b for a, b in zip(row['sequence'], row['seed_sequence'])
    )
    assert distance == int(row['hamming'])
  # Mutants of the top binders bind better than random sequences.
  mutant_dg = np.mean(
    [float(r['target_dg']) for r in mutants if r['hamming'] == '1']
  )
  random_dg = np.mean([float(r['target_dg']) for r in random_rows])
  assert mutant_dg < random_dg - 1.0


@pytest.mark.parametrize(
  'name, lowest, highest',
  [('demo', 0.3, 0.7), ('demo_energy_matrix', 0.95, 1.0)],
)
def test_how_well_the_noise_free_landscape_ranks_random_binders(
  name, lowest, highest
):
  # The ceiling of any model on unseen random sequences: chance where their
  # affinity is the noise term, near 1 with the learnable energy matrix.
  result = _result(name, unseen_random=3000)
  unseen = result.unseen
  random = np.array([k == 'random' for k in unseen.kind])
  sequences = [s for s, r in zip(unseen.sequences, random) if r]
  true_dg = unseen.target_dg[random]
  land = landscapes.from_config(result.config)
  noiseless = dataclasses.replace(result.config, binding_noise_scale=0.0)
  free_dg, _ = land.energies(sequences, np.random.default_rng(0), noiseless)
  is_top = true_dg < np.quantile(true_dg, 0.01)
  auc = metrics.roc_auc_score(is_top, -free_dg)
  assert lowest < auc < highest


@pytest.mark.parametrize('landscape', sorted(landscapes.LANDSCAPES))
def test_unseen_truth_is_the_landscape(landscape):
  # Without noise the truth is the landscape's deterministic part.
  result = _result('single_round', landscape=landscape, binding_noise_scale=0.0)
  unseen = result.unseen
  config = result.config
  land = landscapes.get_landscape(landscape, config.structure_weight)
  sample = list(unseen.sequences[:20]) + list(unseen.sequences[-20:])
  target_dg, serum_dg = land.energies(sample, np.random.default_rng(0), config)
  np.testing.assert_allclose(
    target_dg, np.concatenate([unseen.target_dg[:20], unseen.target_dg[-20:]])
  )
  np.testing.assert_allclose(
    serum_dg, np.concatenate([unseen.serum_dg[:20], unseen.serum_dg[-20:]])
  )
  # A planted motif lowers the energy by its weight.
  motif = land.motifs[0]
  plain = 'A' * config.sequence_length
  carrier = motif.sequence + plain[len(motif.sequence) :]
  if landscape != landscapes.MOTIF_STRUCTURE:
    t_dg, _ = land.energies([plain, carrier], np.random.default_rng(0), config)
    np.testing.assert_allclose(t_dg[1] - t_dg[0], motif.target_dg)
  else:
    # The folding term on top of the motif landscape, on the target only.
    flat = landscapes.get_landscape(landscapes.MOTIF)
    flat_t, flat_s = flat.energies(sample, np.random.default_rng(0), config)
    np.testing.assert_allclose(
      target_dg - flat_t,
      config.structure_weight * structure.standardised_mfe(sample),
    )
    np.testing.assert_allclose(serum_dg, flat_s)


def test_unseen_noise_matches_the_library_noise():
  result = _result('single_round')
  config = result.config
  land = landscapes.get_landscape(config.landscape)
  unseen = result.unseen
  free_dg, _ = land.energies(
    unseen.sequences,
    np.random.default_rng(0),
    dataclasses.replace(config, binding_noise_scale=0.0),
  )
  residual = unseen.target_dg - free_dg
  assert abs(residual.mean()) < 0.1
  assert abs(residual.std() - config.binding_noise_scale) < 0.05


def test_motif_carrying_unseen_sequences_bind_better():
  result = _result('demo')
  unseen = result.unseen
  counts = binding.motif_counts(unseen.sequences)
  carries = counts[:, 0] > 0  # GGTGGATAG: target only
  assert carries.sum() >= 10
  assert (
    unseen.target_dg[carries].mean() < unseen.target_dg[~carries].mean() - 0.5
  )


def test_motif_structure_target_energy_correlates_with_mfe():
  result = _result('selex')
  assert result.config.landscape == landscapes.MOTIF_STRUCTURE
  sample = slice(0, 600)
  mfe = structure.mfe(result.sequences[sample])
  r = np.corrcoef(mfe, result.target_dg[sample])[0, 1]
  assert r > 0.5, r
  # Serum has no folding term; the motif landscape none at all.
  assert abs(np.corrcoef(mfe, result.serum_dg[sample])[0, 1]) < 0.2
  motif = _result('selex', landscape=landscapes.MOTIF)
  assert abs(np.corrcoef(mfe, motif.target_dg[sample])[0, 1]) < 0.2


def test_same_seed_same_bytes_and_unseen_moves_nothing_else(tmp_path):
  for name in ('selex', 'serum_every_round'):
    a, b = str(tmp_path / f'{name}_a'), str(tmp_path / f'{name}_b')
    writer.write_dataset(_result(name), a)
    writer.write_dataset(simulate(scenarios.configure(name, **SMALL)), b)
    names = sorted(os.listdir(a))
    assert simulation.UNSEEN_FILENAME in names
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert match == names and not mismatch and not errors
  # A different unseen set leaves every other file byte for byte.
  c = str(tmp_path / 'fewer_unseen')
  writer.write_dataset(
    simulate(scenarios.configure('selex', **{**SMALL, 'unseen_random': 7})), c
  )
  a = str(tmp_path / 'selex_a')
  others = sorted(set(os.listdir(a)) - {simulation.UNSEEN_FILENAME})
  match, mismatch, _ = filecmp.cmpfiles(a, c, others, shallow=False)
  assert match == others
  assert not filecmp.cmp(
    os.path.join(a, simulation.UNSEEN_FILENAME),
    os.path.join(c, simulation.UNSEEN_FILENAME),
    shallow=False,
  )


def test_demo_scenario_reproduces_data_demo(tmp_path):
  if not os.path.isdir(DATA_DEMO):
    pytest.skip('no data/demo in this checkout')
  out = str(tmp_path / 'demo')
  writer.write_dataset(simulate(scenarios.configure('demo')), out)
  names = sorted(os.listdir(DATA_DEMO))
  match, mismatch, errors = filecmp.cmpfiles(
    DATA_DEMO, out, names, shallow=False
  )
  assert match == names, (mismatch, errors)
  assert simulation.UNSEEN_FILENAME in os.listdir(out)


def test_configure_rejects_unknown_names_and_demo_design_fields():
  with pytest.raises(SimulationConfigError, match='valid scenarios: demo, '):
    scenarios.configure('nope')
  with pytest.raises(SimulationConfigError, match='unknown SimulationConfig'):
    scenarios.configure('demo', stringency=1)
  with pytest.raises(SimulationConfigError, match='stringencies set the demo'):
    scenarios.configure('selex', stringencies=(('high', 1.0),))
  # The demo's own design fields still apply to the demo.
  config = scenarios.configure('demo', stringencies=(('high', 1.0),))
  assert config.stringencies == (('high', 1.0),)
  with pytest.raises(SimulationConfigError, match='valid landscapes: motif, '):
    simulate(scenarios.configure('selex', **SMALL, landscape='flat'))


@pytest.mark.parametrize(
  'rounds, message',
  [
    ((), 'at least one round'),
    (
      (rounds_lib.RoundSpec('a', 'library', rounds_lib.SELEX, 1.0),),
      "input 'library' must be a round listed before it",
    ),
    (
      (
        rounds_lib.RoundSpec('library', '', rounds_lib.RANDOM),
        rounds_lib.RoundSpec(
          'a', 'library', rounds_lib.SELEX, 1.0, negative_reads=True
        ),
      ),
      'SELEX keeps no negative pool',
    ),
    (
      (
        rounds_lib.RoundSpec('library', '', rounds_lib.RANDOM),
        rounds_lib.RoundSpec('a', 'library', rounds_lib.PARTICLE_DISPLAY, 0.0),
      ),
      'needs target_concentration > 0',
    ),
    (
      (
        rounds_lib.RoundSpec('library', '', rounds_lib.RANDOM),
        rounds_lib.RoundSpec('a', 'library', 'PCR', 1.0),
      ),
      'method must be one of',
    ),
    (
      (
        rounds_lib.RoundSpec('library', '', rounds_lib.RANDOM),
        rounds_lib.RoundSpec('other', '', rounds_lib.RANDOM),
        rounds_lib.RoundSpec('a', 'library', rounds_lib.SELEX, 1.0),
      ),
      'exactly one RANDOM',
    ),
    (
      (
        rounds_lib.RoundSpec('library', '', rounds_lib.RANDOM),
        rounds_lib.RoundSpec(
          'a', 'library', rounds_lib.SELEX, 1.0, positive_reads=False
        ),
      ),
      'nothing to learn',
    ),
  ],
)
def test_bad_designs_raise_clear_errors(rounds, message):
  if not rounds:
    # () means the NGAL design; an empty design is only reachable directly.
    from simulation.config import validate_rounds

    with pytest.raises(SimulationConfigError, match=message):
      validate_rounds(rounds)
    return
  with pytest.raises(SimulationConfigError, match=message):
    simulate(SimulationConfig(**SMALL, rounds=rounds))


def test_cli_lists_scenarios(capsys):
  assert cli.main(['--list_scenarios']) == 0
  printed = capsys.readouterr().out.splitlines()
  assert len(printed) == len(scenarios.SCENARIOS)
  for line, (name, scenario) in zip(printed, scenarios.SCENARIOS.items()):
    assert line.split()[0] == name
    assert line.endswith(scenario.description)


def test_cli_writes_a_scenario_with_overrides(tmp_path, capsys):
  out = str(tmp_path / 'selex')
  args = ['--scenario', 'selex', '--output_dir', out, '--landscape', 'motif']
  for key, value in SMALL.items():
    args += [f'--{key}', str(value)]
  assert cli.main(args) == 0
  printed = capsys.readouterr().out
  assert 'scenario: selex' in printed and 'landscape: motif' in printed
  assert 'round4_positive' in printed
  assert set(os.listdir(out)) == {
    'examples-00000-of-00001.tfrecord.gz',
    'experiment.pbtxt',
    'ground_truth.csv.gz',
    'truth_model.json',
    simulation.UNSEEN_FILENAME,
  }
  experiment = experiment_lib.load_experiment(
    os.path.join(out, 'experiment.pbtxt')
  )
  assert experiment_lib.all_count_names(experiment) == EXPECTED_COLUMNS['selex']
  # Same as the library call with the same overrides.
  expected = str(tmp_path / 'library_call')
  writer.write_dataset(_result('selex', landscape='motif'), expected)
  names = sorted(os.listdir(out))
  match, _, _ = filecmp.cmpfiles(out, expected, names, shallow=False)
  assert match == names


@pytest.mark.parametrize(
  'args, message',
  [
    (['--scenario', 'nope'], 'valid scenarios: demo, serum_every_round'),
    (['--landscape', 'flat'], 'valid landscapes: motif, motif_epistasis'),
    (
      ['--scenario', 'single_round', '--serum_stringencies', 'high'],
      'serum_stringencies set the demo design',
    ),
    ([], 'required: --output_dir'),
  ],
)
def test_cli_rejects_bad_scenarios_and_landscapes(
  tmp_path, capsys, args, message
):
  out = str(tmp_path / 'bad')
  if args:
    args = args + ['--output_dir', out, '--num_families', '20']
  with pytest.raises(SystemExit) as exit_info:
    cli.main(args)
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err
  assert not os.path.exists(out)
