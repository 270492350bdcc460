"""The Evaluator's model calls by input name give TFMA's outputs.

A real SavedModel's restored signatures, called through
`keyword_signatures` and through TFMA's own ModelSignaturesDoFn on the
same batch of serialized examples.
"""

import eval_configs
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.utils import model_util

from components.evaluation import evaluator_extractors
from components.evaluation import keyword_signatures


class _Model(tf.Module):
  """serving_default and transform_features on serialized examples, and a
  two-input signature."""

  def __init__(self):
    super().__init__()
    spec = {'x': tf.io.FixedLenFeature([], tf.float32)}
    examples = [tf.TensorSpec([None], tf.string, name='examples')]

    @tf.function(input_signature=examples)
    def serve(examples):
      x = tf.io.parse_example(examples, spec)['x']
      return {'low_pos': 2.0 * x, 'affinity_target': x - 1.0}

    @tf.function(input_signature=examples)
    def transform_features(examples):
      x = tf.io.parse_example(examples, spec)['x']
      return {'doubled': 2.0 * x}

    @tf.function(
      input_signature=[
        tf.TensorSpec([None], tf.float32, name='a'),
        tf.TensorSpec([None], tf.float32, name='b'),
      ]
    )
    def add(a, b):
      return {'sum': a + b}

    self.serve, self.transform_features, self.add = (
      serve,
      transform_features,
      add,
    )


def _serialized(values):
  return np.array(
    [
      tf.train.Example(
        features=tf.train.Features(
          feature={
            'x': tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
          }
        )
      ).SerializeToString()
      for v in values
    ],
    dtype=object,
  )


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('keyword') / 'model')
  model = _Model()
  names = {'serve': 'serving_default'}
  signatures = {
    names.get(name, name): getattr(model, name)
    for name in ('serve', 'transform_features', 'add')
  }
  tf.saved_model.save(model, path, signatures=signatures)
  return path


def test_one_input_is_passed_by_name(saved):
  signatures = tf.saved_model.load(saved).signatures
  examples = tf.constant(_serialized([0.5, 2.0]))
  wrapped = keyword_signatures.KeywordSignature(signatures['serving_default'])
  expected = signatures['serving_default'](examples=examples)
  actual = wrapped(examples)
  assert sorted(actual) == sorted(expected)
  for key in expected:
    np.testing.assert_array_equal(actual[key], expected[key])
  # Attributes are the signature's own.
  assert (
    wrapped.structured_input_signature
    == signatures['serving_default'].structured_input_signature
  )


def test_several_inputs_are_passed_as_given(saved):
  add = tf.saved_model.load(saved).signatures['add']
  assert keyword_signatures._only_input_name(add) is None
  wrapped = keyword_signatures.KeywordSignature(add)
  out = wrapped(a=tf.constant([1.0]), b=tf.constant([2.0]))
  np.testing.assert_array_equal(out['sum'], [3.0])


def test_keyword_model_keeps_every_signature_and_attribute(saved):
  loaded = tf.saved_model.load(saved)
  model = keyword_signatures.KeywordModel(loaded)
  assert sorted(model.signatures) == sorted(loaded.signatures)
  assert 'serving_default' in model.signatures
  assert len(model.signatures) == 3
  assert model.serve is loaded.serve  # Anything else is the model's.


def _config():
  config = eval_configs.pipeline_like()
  config.model_specs[0].label_keys.clear()
  return tfma.utils.update_eval_config_with_defaults(config, rubber_stamp=True)


@pytest.mark.parametrize(
  'build, output_key',
  [
    (
      keyword_signatures.PredictionsExtractor,
      constants.PREDICTIONS_KEY,
    ),
    (
      keyword_signatures.TransformedFeaturesExtractor,
      constants.TRANSFORMED_FEATURES_KEY,
    ),
  ],
  ids=['predictions', 'transformed features'],
)
def test_extractors_equal_tfmas_do_fn(saved, build, output_key):
  config = _config()
  shared = tfma.default_eval_shared_model(saved, eval_config=config)
  stage = build(config, shared)
  ours = stage.ptransform.fn
  assert isinstance(ours, keyword_signatures.KeywordSignaturesDoFn)
  # TFMA's DoFn with the same arguments: the base class's own process.
  theirs = model_util.ModelSignaturesDoFn(
    model_specs=ours._model_specs,
    eval_shared_models={shared.model_name: shared},
    output_keypath=ours._output_keypath,
    signature_names=ours._signature_names,
    default_signature_names=ours._default_signature_names,
    prefer_dict_outputs=ours._prefer_dict_outputs,
  )
  batch = {
    constants.INPUT_KEY: _serialized([0.5, 2.0, -1.0]),
    constants.FEATURES_KEY: {'x': np.array([0.5, 2.0, -1.0], np.float32)},
  }
  outputs = []
  for fn in (ours, theirs):
    fn.setup()
    [out] = fn.process(batch)
    outputs.append(out[output_key])
  assert isinstance(ours._loaded_models[''], keyword_signatures.KeywordModel)
  actual, expected = outputs
  # The model's own outputs: low_pos and doubled are 2x.
  twice = expected.get('low_pos', expected.get('doubled'))
  np.testing.assert_allclose(twice, [1.0, 4.0, -2.0])
  assert sorted(actual) == sorted(expected)
  for key in expected:
    np.testing.assert_array_equal(actual[key], expected[key])


def test_the_evaluator_extractors_call_by_keyword(saved):
  config = _config()
  shared = tfma.default_eval_shared_model(saved, eval_config=config)
  stages = {
    e.stage_name: e
    for e in evaluator_extractors.custom_extractors(shared, config)
  }
  for name in (
    keyword_signatures.PREDICTIONS_STAGE_NAME,
    keyword_signatures.TRANSFORMED_STAGE_NAME,
  ):
    assert isinstance(
      stages[name].ptransform.fn, keyword_signatures.KeywordSignaturesDoFn
    )
