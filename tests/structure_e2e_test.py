"""The playbook's --additional_output="partition_function,boltzmann_probability"
end to end: ViennaRNA features are computed, normalised and predicted."""

import json
import os

import handmade_data
import pytest
import tensorflow as tf

from components import features
from pipeline import local_runner


@pytest.mark.e2e
def test_structure_features_as_additional_outputs(tmp_path):
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='structure',
    input_dir=handmade_data.write_dataset(str(tmp_path / 'data')),
    epochs=1,
    num_conv_layers=0,
    min_auc_true_top_1p=0.0,
    additional_output='partition_function,boltzmann_probability',
  )
  local_runner.run(options)
  root = options.pipeline_root
  assert os.listdir(os.path.join(root, 'StructureFeatures'))
  # Transform normalised both (log for Z, linear for the probability).
  [graph] = os.listdir(os.path.join(root, 'Transform', 'transform_graph'))
  import tensorflow_transform as tft

  spec = tft.TFTransformOutput(
    os.path.join(root, 'Transform', 'transform_graph', graph)
  ).transformed_feature_spec()
  for name in ('partition_function', 'boltzmann_probability'):
    assert features.target_name(name, 'STANDARDIZE') in spec
  # The model predicts them and reports their metrics each epoch.
  [run_dir] = os.listdir(os.path.join(root, 'Trainer', 'model_run'))
  with open(
    os.path.join(root, 'Trainer', 'model_run', run_dir, 'epoch_report.jsonl')
  ) as f:
    table = json.loads(f.readlines()[-1])['tables']['validation']
  assert {'partition_function', 'boltzmann_probability'} <= set(table)
  [model_dir] = os.listdir(os.path.join(root, 'Trainer', 'model'))
  serve = tf.saved_model.load(
    os.path.join(root, 'Trainer', 'model', model_dir, 'Format-Serving')
  ).signatures['serve_sequences']
  out = serve(sequences=tf.constant(['ACGTACGTACGT', 'GGGGCCCCAAAA']))
  assert out['partition_function'].shape == (2,)
  assert out['boltzmann_probability'].shape == (2,)
