"""ViennaRNA structure features as model inputs (not only as targets)."""

import handmade_data
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import schema_utils

from components.config import hparams as hparams_lib
from components.config import model_options
from components.config import pipeline_config
from components.config import structure
from components.features import encodings
from components.features import preprocessing
from components.features.structure import folding
from components.model import network as model_lib
from pipeline import configs
from pipeline import run_options
from schema import experiment as experiment_lib

_EXPERIMENT = experiment_lib.parse_experiment(
  handmade_data.THREE_ROUND_EXPERIMENT
)
_SIGNS = experiment_lib.selection_signs(_EXPERIMENT)


def test_columns_are_the_folding_features():
  assert (
    encodings.STRUCTURE_INPUT_COLUMNS['STRUCTURE_FEATURES'] == folding.FEATURES
  )
  assert encodings.structure_raw_features(['SEQUENCE_ONE_HOT']) == []
  assert encodings.structure_raw_features(
    ['STRUCTURE_PARTITION_FUNCTION', 'STRUCTURE_FEATURES']
  ) == sorted(folding.FEATURES)
  assert encodings.dense_input_widths(
    ['STRUCTURE_FEATURES', 'SEQUENCE_ONE_HOT', 'SEQUENCE_KMER_COUNT'], 2
  ) == {encodings.KMER_FEATURE: 20, encodings.STRUCTURE_FEATURE: 5}


def _transform(tmp_path, rows, input_features):
  spec = {'sequence': tf.io.FixedLenFeature([], tf.string)}
  spec.update({n: tf.io.FixedLenFeature([], tf.float32) for n in rows[0]})
  metadata = dataset_metadata.DatasetMetadata(
    schema_utils.schema_from_feature_spec(spec)
  )
  raw = [{'sequence': b'ACGT', **row} for row in rows]

  def fn(inputs):
    out = {}
    for name, columns in encodings.STRUCTURE_INPUT_COLUMNS.items():
      if name in input_features:
        out[name] = preprocessing.structure_input(inputs, columns)
    return out

  with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=False):
    (result, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
  return {name: np.array([r[name] for r in result]) for name in input_features}


def _z(values):
  values = np.asarray(values, np.float64)
  return (values - values.mean()) / values.std(ddof=0)


def test_transform_z_scores_each_column_and_logs_z(tmp_path):
  sequences = ['ACGTACGTAC', 'GGGGAAAACCCC', 'ATATATATAT', 'GCGCAAAAGCGC']
  rows = [folding.fold(s, folding.FoldingParameters()) for s in sequences]
  out = _transform(
    tmp_path, rows, ['STRUCTURE_PARTITION_FUNCTION', 'STRUCTURE_FEATURES']
  )
  assert out['STRUCTURE_FEATURES'].shape == (4, 5)
  assert out['STRUCTURE_PARTITION_FUNCTION'].shape == (4, 1)
  float32 = {
    name: np.float32([row[name] for row in rows]) for name in folding.FEATURES
  }
  for i, name in enumerate(folding.FEATURES):
    values = float32[name]
    if name == 'partition_function':
      values = np.log(values)
    np.testing.assert_allclose(
      out['STRUCTURE_FEATURES'][:, i], _z(values), atol=1e-4
    )
  np.testing.assert_allclose(
    out['STRUCTURE_PARTITION_FUNCTION'][:, 0],
    out['STRUCTURE_FEATURES'][:, 2],
    atol=1e-6,
  )


def test_transform_names_missing_structure_features():
  with pytest.raises(ValueError, match=r"\['mfe'.*run StructureFeatures"):
    preprocessing.structure_input(
      {'sequence': tf.constant([[b'A']])}, folding.FEATURES
    )


def test_model_takes_structure_inputs_and_uses_them():
  options = model_options.ModelOptions(
    input_features=('SEQUENCE_ONE_HOT', 'STRUCTURE_FEATURES')
  )
  hp = hparams_lib.HParams(num_conv_layers=1, num_fc_layers=1, conv_widths=[3])
  model = model_lib.build_model(hp, _EXPERIMENT, options, _SIGNS)
  assert set(model.input) == {
    encodings.ONE_HOT_FEATURE,
    encodings.STRUCTURE_FEATURE,
  }
  assert model.input[encodings.STRUCTURE_FEATURE].shape[1] == 5
  rng = np.random.default_rng(0)
  width = model.input[encodings.ONE_HOT_FEATURE].shape[1]
  inputs = {
    encodings.ONE_HOT_FEATURE: rng.normal(size=(3, width)).astype(np.float32),
    encodings.STRUCTURE_FEATURE: np.zeros((3, 5), np.float32),
  }
  before = model(inputs)['counts'].numpy()
  inputs[encodings.STRUCTURE_FEATURE] = np.ones((3, 5), np.float32)
  assert not np.allclose(before, model(inputs)['counts'].numpy())


def test_structure_only_network():
  options = model_options.ModelOptions(
    input_features=('STRUCTURE_PARTITION_FUNCTION',)
  )
  hp = hparams_lib.HParams(num_conv_layers=0, num_fc_layers=1)
  model = model_lib.build_model(hp, _EXPERIMENT, options, _SIGNS)
  assert set(model.input) == {encodings.STRUCTURE_LOG_PF_FEATURE}
  assert model.input[encodings.STRUCTURE_LOG_PF_FEATURE].shape[1] == 1


def test_random_sequence_injection_is_rejected_with_structure_inputs():
  with pytest.raises(ValueError, match='no ViennaRNA features'):
    model_options.ModelOptions(
      input_features=('SEQUENCE_ONE_HOT', 'STRUCTURE_FEATURES'),
      preprocess_mode='PREPROCESS_INJECT_RANDOM_SEQUENCES',
    )


def test_structure_inputs_turn_folding_on():
  options = run_options.RunOptions(input_features='SEQUENCE_ONE_HOT')
  assert run_options.structure(options) is None
  options = run_options.RunOptions(
    input_features='SEQUENCE_ONE_HOT,STRUCTURE_PARTITION_FUNCTION'
  )
  assert run_options.structure(options).energy_parameters == (
    folding.DNA_MATHEWS2004
  )


@pytest.mark.parametrize(
  'flags, folded',
  [
    (
      {'input_features': 'SEQUENCE_ONE_HOT,STRUCTURE_PARTITION_FUNCTION'},
      ('partition_function',),
    ),
    (
      {'input_features': 'SEQUENCE_ONE_HOT,STRUCTURE_FEATURES'},
      folding.FEATURES,
    ),
    (
      {'additional_output': 'ensemble_diversity,mfe'},
      ('mfe', 'ensemble_diversity'),
    ),
    # The manuscript preset reads the partition function only.
    ({'preset': 'counts'}, ('partition_function',)),
    # --structure_features asks for all five, whatever the model reads.
    (
      {'structure_features': True, 'additional_output': 'partition_function'},
      folding.FEATURES,
    ),
    ({'structure_features': True}, folding.FEATURES),
  ],
)
def test_folding_computes_the_features_the_model_reads(flags, folded):
  preset = flags.pop('preset', '')
  values = dict(configs.PRESETS[preset]) if preset else {}
  values.update(flags)
  options = run_options.RunOptions(**values)
  assert run_options.structure(options).features == folded


def test_a_model_reading_a_feature_folding_skips_is_refused():
  with pytest.raises(ValueError, match=r"reads structure features \['mfe'\]"):
    pipeline_config.PipelineConfig(
      hparams={},
      model=model_options.ModelOptions(additional_outputs=('mfe',)),
      structure=structure.StructureConfig(features=('partition_function',)),
    )
