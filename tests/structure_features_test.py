"""Unit tests of the ViennaRNA wrapper behind StructureFeatures."""

import json
import math

import pytest
import RNA

from components.features.structure import folding

SEQUENCES = (
  'GGGAAACCCTTTGCGCAAAGCGCATTACGGATCCGTA',
  'ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT',
  'GCGCGCGCAAAAGCGCGCGC',
  'AAAAAAAAAA',
  'A',
)
DNA = folding.FoldingParameters()
RNA_PARAMETERS = folding.FoldingParameters(
  energy_parameters=folding.RNA_TURNER2004
)


def _direct(sequence, loader, temperature=37.0, sodium=1.021):
  """The features from plain ViennaRNA calls, as its documentation shows."""
  loader()
  md = RNA.md()
  md.temperature = temperature
  md.salt = sodium
  fc = RNA.fold_compound(sequence, md)
  structure, mfe = fc.mfe()
  fc.exp_params_rescale(mfe)
  _, ensemble = fc.pf()
  kt = (temperature + 273.15) * 1.98717e-3
  return {
    'mfe': mfe,
    'ensemble_free_energy': ensemble,
    'partition_function': math.exp(-ensemble / kt),
    'boltzmann_probability': fc.pr_structure(structure),
    'ensemble_diversity': fc.mean_bp_distance(),
  }


def test_viennarna_constants_are_the_documented_ones():
  assert RNA.K0 == pytest.approx(273.15)
  assert RNA.GASCONST == pytest.approx(1.98717)  # cal/(mol K)


def test_defaults_are_viennarna_defaults():
  # The configuration layer states them without importing ViennaRNA.
  assert folding.DEFAULT_TEMPERATURE == float(RNA.md().temperature) == 37.0
  assert folding.DEFAULT_SODIUM == pytest.approx(float(RNA.md().salt))
  assert folding.DEFAULT_SODIUM == pytest.approx(1.021)
  assert DNA.energy_parameters == 'dna_mathews2004'


@pytest.mark.parametrize('sequence', SEQUENCES)
@pytest.mark.parametrize(
  'parameters, loader',
  [
    (DNA, RNA.params_load_DNA_Mathews2004),
    (RNA_PARAMETERS, RNA.params_load_RNA_Turner2004),
  ],
)
def test_fold_equals_direct_viennarna(sequence, parameters, loader):
  features = folding.fold(sequence, parameters)
  expected = _direct(sequence, loader)
  assert set(features) == set(folding.FEATURES)
  for name, value in expected.items():
    assert features[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


@pytest.mark.parametrize('sequence', SEQUENCES)
def test_boltzmann_probability_identity(sequence):
  f = folding.fold(sequence, DNA)
  kt = (37.0 + 273.15) * 1.98717e-3
  assert f['boltzmann_probability'] == pytest.approx(
    math.exp(-(f['mfe'] - f['ensemble_free_energy']) / kt), rel=1e-5
  )
  assert f['partition_function'] == pytest.approx(
    math.exp(-f['ensemble_free_energy'] / kt), rel=1e-9
  )
  assert 0 < f['boltzmann_probability'] <= 1
  assert f['ensemble_free_energy'] <= f['mfe'] + 1e-6


def test_dna_and_rna_parameters_differ():
  sequence = SEQUENCES[0]
  dna = folding.fold(sequence, DNA)
  rna = folding.fold(sequence, RNA_PARAMETERS)
  assert dna['mfe'] != pytest.approx(rna['mfe'], abs=0.1)
  assert dna['ensemble_free_energy'] != pytest.approx(
    rna['ensemble_free_energy'], abs=0.1
  )
  assert folding.fold(sequence, DNA) == dna


def test_fold_ignores_what_the_process_loaded_globally():
  sequence = SEQUENCES[0]
  dna = folding.fold(sequence, DNA)
  RNA.params_load_RNA_Turner2004()
  assert folding.fold(sequence, DNA) == dna
  folding.load_energy_parameters(folding.RNA_TURNER2004)
  assert folding.loaded_energy_parameters() == folding.RNA_TURNER2004
  assert folding.fold(sequence, DNA) == dna


def test_temperature_and_sodium_change_the_energies():
  sequence = SEQUENCES[0]
  base = folding.fold(sequence, DNA)
  warm = folding.fold(sequence, folding.FoldingParameters(temperature=55.0))
  low_salt = folding.fold(sequence, folding.FoldingParameters(sodium=0.15))
  assert warm['mfe'] > base['mfe']
  assert low_salt['mfe'] > base['mfe']
  expected = _direct(
    sequence, RNA.params_load_DNA_Mathews2004, temperature=55.0
  )
  assert warm['partition_function'] == pytest.approx(
    expected['partition_function'], rel=1e-6
  )


def test_primers_are_folded_with_the_sequence():
  parameters = folding.FoldingParameters(
    forward_primer='GGATCC', reverse_primer='GAATTC'
  )
  features = folding.fold('ACGTTGCA', parameters)
  expected = _direct('GGATCCACGTTGCAGAATTC', RNA.params_load_DNA_Mathews2004)
  assert features['mfe'] == pytest.approx(expected['mfe'])
  assert features['ensemble_diversity'] == pytest.approx(
    expected['ensemble_diversity']
  )


@pytest.mark.parametrize(
  'sequence, message',
  [
    ('ACGNACGT', "'ACGNACGT' has characters other than A/C/G/T: 'N'"),
    ('ACGUACGT', "'ACGUACGT' has characters other than A/C/G/T: 'U'"),
    ('acgt', "'acgt' has characters other than A/C/G/T"),
    ('', 'empty sequence'),
  ],
)
def test_bad_sequences_raise_naming_the_sequence(sequence, message):
  with pytest.raises(folding.FoldingError, match=message):
    folding.fold(sequence, DNA)


@pytest.mark.parametrize(
  'kwargs, message',
  [
    ({'energy_parameters': 'dna_1999'}, 'energy_parameters must be one of'),
    ({'temperature': -300.0}, 'temperature'),
    ({'sodium': 0.0}, 'sodium'),
    ({'forward_primer': 'ACGX'}, "forward_primer .*'ACGX'"),
  ],
)
def test_bad_parameters_raise(kwargs, message):
  with pytest.raises(folding.FoldingError, match=message):
    folding.FoldingParameters(**kwargs)


def test_fingerprint_depends_on_every_parameter():
  prints = {
    folding.FoldingParameters().fingerprint(),
    RNA_PARAMETERS.fingerprint(),
    folding.FoldingParameters(temperature=25.0).fingerprint(),
    folding.FoldingParameters(sodium=0.1).fingerprint(),
    folding.FoldingParameters(forward_primer='A').fingerprint(),
    folding.FoldingParameters(reverse_primer='A').fingerprint(),
  }
  assert len(prints) == 6
  assert folding.FoldingParameters().fingerprint() == DNA.fingerprint()
  assert RNA.__version__ in DNA.describe()


@pytest.mark.parametrize(
  'features',
  [
    ('partition_function',),
    ('mfe',),
    ('ensemble_diversity',),
    ('boltzmann_probability',),
    ('ensemble_free_energy', 'partition_function'),
    ('ensemble_diversity', 'mfe'),
  ],
)
@pytest.mark.parametrize('sequence', SEQUENCES)
def test_a_subset_of_features_equals_the_full_fold(features, sequence):
  # Skipping the MFE fold or the base-pair probabilities leaves every
  # computed value as it was (the partition function only loses its
  # rescaling around the MFE, to the last bits).
  parameters = folding.FoldingParameters(
    forward_primer='ACACGACGCT', reverse_primer='AGATCGGAAG'
  )
  full = folding.fold(sequence, parameters)
  subset = folding.fold(sequence, parameters.with_features(features))
  assert list(subset) == [f for f in folding.FEATURES if f in features]
  for name, value in subset.items():
    assert value == pytest.approx(full[name], rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize(
  'features, message',
  [
    ((), 'at least one'),
    (('mfe', 'entropy'), r"\['entropy'\] are not among"),
    (('mfe', 'mfe'), 'twice'),
  ],
)
def test_bad_feature_choices_raise(features, message):
  with pytest.raises(folding.FoldingError, match=message):
    DNA.with_features(features)


def test_features_are_kept_in_feature_order():
  parameters = DNA.with_features(['ensemble_diversity', 'mfe'])
  assert parameters.features == ('mfe', 'ensemble_diversity')


def test_a_feature_choice_changes_the_fingerprint_all_five_do_not():
  # Caches written before the choice existed keep their folder.
  assert 'features' not in json.loads(DNA.describe())
  assert DNA.with_features(folding.FEATURES).fingerprint() == DNA.fingerprint()
  subset = DNA.with_features(['partition_function'])
  assert subset.fingerprint() != DNA.fingerprint()
  assert json.loads(subset.describe())['features'] == ['partition_function']
