"""ViennaRNA features end to end: the playbook's
--additional_output="partition_function,boltzmann_probability" (computed,
normalised and predicted) and --input_features=...,STRUCTURE_FEATURES (fed to
the model, evaluated and served).

One run does both (a pipeline run costs about a minute whatever it trains),
so each test reads the part of it that it is about.
"""

import json
import os

import handmade_data
import numpy as np
import pytest
import tensorflow as tf

from components.features import encodings
from components.features.structure import folding
from pipeline import local_runner


@pytest.fixture(scope='module')
def options(tmp_path_factory) -> local_runner.RunOptions:
  """One epoch on the handmade dataset, any model blessed; the options."""
  tmp_path = tmp_path_factory.mktemp('structure')
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='structure',
    input_dir=handmade_data.write_dataset(str(tmp_path / 'data')),
    epochs=1,
    design=False,
    min_auc_true_top_1p=0.0,
    num_conv_layers=1,
    input_features='SEQUENCE_ONE_HOT,STRUCTURE_FEATURES',
    additional_output='partition_function,boltzmann_probability',
  )
  local_runner.run(options)
  return options


def _serving_model(root):
  [model_dir] = os.listdir(os.path.join(root, 'Trainer', 'model'))
  return tf.saved_model.load(
    os.path.join(root, 'Trainer', 'model', model_dir, 'Format-Serving')
  )


def _serve_sequences_inputs(examples):
  """serve_sequences' inputs for serialized examples: sequences, features."""
  rows = [tf.train.Example.FromString(e).features.feature for e in examples]
  values = {
    name: tf.constant([r[name].float_list.value[0] for r in rows])
    for name in folding.FEATURES
  }
  sequences = tf.constant([r['sequence'].bytes_list.value[0] for r in rows])
  return sequences, values


@pytest.mark.e2e
def test_structure_features_as_additional_outputs(options):
  root = options.pipeline_root
  assert os.listdir(os.path.join(root, 'StructureFeatures'))
  # Transform normalised both (log for Z, linear for the probability).
  [graph] = os.listdir(os.path.join(root, 'Transform', 'transform_graph'))
  import tensorflow_transform as tft

  spec = tft.TFTransformOutput(
    os.path.join(root, 'Transform', 'transform_graph', graph)
  ).transformed_feature_spec()
  for name in ('partition_function', 'boltzmann_probability'):
    assert encodings.target_name(name, 'STANDARDIZE') in spec
  # The model predicts them and reports their metrics each epoch.
  [run_dir] = os.listdir(os.path.join(root, 'Trainer', 'model_run'))
  with open(
    os.path.join(root, 'Trainer', 'model_run', run_dir, 'epoch_report.jsonl')
  ) as f:
    table = json.loads(f.readlines()[-1])['tables']['validation']
  assert {'partition_function', 'boltzmann_probability'} <= set(table)
  # Served by sequence too (with the five features this model reads).
  sequences, values = _serve_sequences_inputs(
    local_runner.held_out_examples(options)[:2]
  )
  out = _serving_model(root).signatures['serve_sequences'](
    sequences=sequences, **values
  )
  assert out['partition_function'].shape == (2,)
  assert out['boltzmann_probability'].shape == (2,)


@pytest.mark.e2e
def test_structure_features_as_inputs(options):
  root = options.pipeline_root
  # The Evaluator ran the model on the folded examples (too few held-out
  # examples for a top-1% AUC, so the blessing itself is not checked).
  evaluation = local_runner.latest_artifact(
    options, 'ModelEvaluation', 'Evaluator'
  )
  assert evaluation is not None
  assert os.listdir(evaluation.uri)
  loaded = _serving_model(root)
  examples = local_runner.held_out_examples(options)
  parsed = tf.train.Example.FromString(examples[0]).features.feature
  assert 'partition_function' in parsed  # StructureFeatures' output.
  by_examples = loaded.signatures['serving_default'](
    examples=tf.constant(examples[:8])
  )['affinity_target'].numpy()
  # serve_sequences needs the five features with each sequence.
  serve = loaded.signatures['serve_sequences']
  assert set(serve.structured_input_signature[1]) == {
    'sequences',
    'mfe',
    'ensemble_free_energy',
    'partition_function',
    'boltzmann_probability',
    'ensemble_diversity',
  }
  sequences, values = _serve_sequences_inputs(examples[:8])
  by_sequences = serve(sequences=sequences, **values)['affinity_target']
  np.testing.assert_allclose(by_sequences.numpy(), by_examples, rtol=1e-5)
  # The prediction moves with the structure features: they are used.
  shifted = dict(values, mfe=values['mfe'] - 5.0)
  moved = serve(sequences=sequences, **shifted)['affinity_target'].numpy()
  assert not np.allclose(moved, by_examples)
