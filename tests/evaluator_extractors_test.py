"""The Evaluator's custom extractors give TFMA's metric values, faster.

Each piece against the TFMA code it stands in for (unbatching, slice keys),
then whole TFMA runs of a tiny SavedModel, with the pipeline's EvalConfig
(slices from transformed features, rank and affinity metrics, thresholds),
once with TFMA's default extractors and once with `custom_extractors`, both
batched (the pipeline's config) and per example (a config with TFMA's
ExampleCount): every metric of every slice, and the blessing, must be
equal.
"""

import importlib

import eval_configs
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis import types
from tensorflow_model_analysis.extractors import slice_key_extractor
from tensorflow_model_analysis.extractors import unbatch_extractor
from tfx import v1 as tfx
from tfx.components.util import udf_utils

from components.evaluation import eval_config
from components.evaluation import evaluator_extractors
from components.evaluation import fast_unbatch
from components.evaluation import lean_extracts
from components.evaluation import slice_batches
from components.evaluation import slice_keys
from components.features import binding_evidence as be
from components.features import encodings
from pipeline import run_options
from pipeline import stages

_GC = encodings.GC_SLICE
_ABUNDANCE = encodings.ABUNDANCE_SLICE


# --- Unbatching ------------------------------------------------------------


def _batch(n=5, seed=0):
  """A batched extract shaped as TFMA's extractors give the pipeline's."""
  rng = np.random.default_rng(seed)
  return {
    constants.FEATURES_KEY: {
      'lib': rng.integers(0, 9, (n, 1)),
      'sequence': np.array([[b'ACGT'] * 1] * n, dtype=object),
    },
    constants.INPUT_KEY: np.array([b'serialized'] * n, dtype=object),
    constants.TRANSFORMED_FEATURES_KEY: {
      'one_hot': rng.random((n, 160)).astype(np.float32),
      _GC: np.array([b'40-50%', b'50-60%'] * n, dtype=object)[:n],
      'evidence_bucket': rng.integers(0, 3, n),
      'empty': {},
    },
    constants.LABELS_KEY: {'a': rng.integers(0, 9, n), 'b': np.zeros(n)},
    constants.PREDICTIONS_KEY: {
      'candidate': {'a': rng.random(n).astype(np.float32)},
      'baseline': {'a': rng.random(n).astype(np.float32)},
    },
  }


def _assert_same(actual, expected, path=()):
  """Same keys, and leaves of the same type, dtype, shape and values."""
  if isinstance(expected, dict):
    assert isinstance(actual, dict), path
    assert sorted(actual) == sorted(expected), path
    for key in expected:
      _assert_same(actual[key], expected[key], path + (key,))
  elif isinstance(expected, np.ndarray):
    assert type(actual) is np.ndarray, path
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape)
    np.testing.assert_array_equal(actual, expected)
  else:
    assert type(actual) is type(expected), path
    assert actual == expected, path


def _tfma_unbatch(batch):
  return unbatch_extractor._extract_unbatched_inputs(batch)


@pytest.mark.parametrize(
  'batch',
  [
    _batch(),
    _batch(n=1),
    # One key only, and a 2-D label.
    {constants.LABELS_KEY: {'a': np.arange(6).reshape(3, 2)}},
  ],
  ids=['pipeline-like', 'one example', 'one key'],
)
def test_fast_unbatch_equals_tfma(batch):
  expected = _tfma_unbatch(batch)
  actual = fast_unbatch.unbatch(batch)
  assert len(actual) == len(expected) > 0
  for a, e in zip(actual, expected):
    _assert_same(a, e)


@pytest.mark.parametrize(
  'odd',
  [
    [0.5, 1.5, 2.5],  # A list: TFMA's legacy dataframe path.
    None,  # A missing value: None in every example.
    types.VarLenTensorValue(
      values=np.array([1, 2, 3]),
      indices=np.array([[0, 0], [1, 0], [2, 0]]),
      dense_shape=np.array([3, 1]),
    ),
  ],
  ids=['list', 'None', 'varlen'],
)
def test_fast_unbatch_leaves_other_values_to_tfma(odd, monkeypatch):
  batch = {
    constants.LABELS_KEY: {'a': np.arange(3)},
    constants.FEATURES_KEY: {'odd': odd},
  }
  calls = []
  tfma_unbatch = unbatch_extractor._extract_unbatched_inputs
  monkeypatch.setattr(
    unbatch_extractor,
    '_extract_unbatched_inputs',
    lambda b: calls.append(b) or tfma_unbatch(b),
  )
  actual = fast_unbatch.unbatch(batch)
  assert calls == [batch]
  assert len(actual) == 3


# --- Trimming --------------------------------------------------------------


def _pipeline_config(outputs=('low_pos',)):
  return eval_configs.pipeline_like(
    outputs, min_spearman=-1.0, evidence_levels={'target': 2}
  )


def test_needed_inputs_are_the_slices_and_the_evidence():
  needed = lean_extracts.needed_inputs(_pipeline_config())
  assert needed.features == {
    _GC,
    _ABUNDANCE,
    be.bucket_feature('target'),
    be.enrichment_feature('target'),
  }
  assert not needed.serialized
  # Count metrics alone read no feature but the slices'.
  plain = eval_config.make_eval_config(['low_pos'], 0.0)
  assert lean_extracts.needed_inputs(plain).features == {_GC, _ABUNDANCE}


def test_anything_unknown_keeps_every_feature():
  config = _pipeline_config()
  config.slicing_specs.add(slice_keys_sql='SELECT STRUCT(x) FROM example')
  assert lean_extracts.needed_inputs(config) is None
  config = _pipeline_config()
  config.metrics_specs.add().metrics.add(class_name='MeanLabel')
  # TFMA's own metrics read labels and predictions only.
  assert lean_extracts.needed_inputs(config) is not None


def test_trimming_keeps_needed_features_per_model():
  needed = lean_extracts.NeededInputs(frozenset({_GC}), serialized=False)
  batch = _batch()
  batch[constants.TRANSFORMED_FEATURES_KEY] = {
    'candidate': dict(batch[constants.TRANSFORMED_FEATURES_KEY]),
    'baseline': dict(batch[constants.TRANSFORMED_FEATURES_KEY]),
  }
  kept = lean_extracts.keep_needed(batch, needed, per_model=True)
  assert constants.INPUT_KEY not in kept
  assert kept[constants.FEATURES_KEY] == {}
  for model in ('candidate', 'baseline'):
    assert list(kept[constants.TRANSFORMED_FEATURES_KEY][model]) == [_GC]
  assert kept[constants.LABELS_KEY] is batch[constants.LABELS_KEY]
  assert constants.INPUT_KEY in batch  # The input is not changed.


# --- Slice keys ------------------------------------------------------------


def _examples():
  """Per-example extracts with repeated, missing and raw slicing values."""
  gc = [b'40-50%', b'50-60%', b'40-50%', b'40-50%', None, b'50-60%']
  counts = [np.array([1]), np.array([2]), np.array([1]), None, None, None]
  for g, c in zip(gc, counts):
    transformed = {'other': np.array([0.5])}
    if g is not None:
      transformed[_GC] = np.array([g], dtype=object)
    features = {'lib': np.array([3])}
    if c is not None:
      features[_ABUNDANCE] = c
    yield {
      constants.TRANSFORMED_FEATURES_KEY: transformed,
      constants.FEATURES_KEY: features,
    }


@pytest.mark.parametrize('materialize', [False, True])
def test_cached_slice_keys_equal_tfma(materialize):
  config = _pipeline_config()
  config.slicing_specs.add(feature_keys=[_GC, _ABUNDANCE])
  config.slicing_specs.add(feature_values={_GC: '40-50%'})
  specs = slice_keys.slice_specs(config)
  tfma_fn = slice_key_extractor.ExtractSliceKeysFn(config, materialize)
  cached_fn = slice_keys.CachedSliceKeysFn(
    config, materialize, slice_keys.slicing_features(config)
  )
  for _ in range(2):  # The second pass reads the cache.
    for example in _examples():
      [expected] = tfma_fn.process(example, specs)
      [actual] = cached_fn.process(example, specs)
      assert sorted(actual) == sorted(expected)
      key = constants.SLICE_KEY_TYPES_KEY
      assert sorted(actual[key]) == sorted(expected[key])
      if materialize:
        column = constants.SLICE_KEYS_KEY
        assert sorted(actual[column].value) == sorted(expected[column].value)
  assert len(cached_fn._cache) == 5


# --- Whole TFMA runs -------------------------------------------------------

_SPEC = be.EvidenceSpec(
  'target',
  (
    be.EvidenceRound('low', 100, 'low_pos', 'low_neg', 'lib'),
    be.EvidenceRound('high', 10, 'high_pos', 'high_neg', 'lib'),
  ),
)
_READS = ('high_neg', 'high_pos', 'lib', 'low_neg', 'low_pos')
_OUTPUTS = ('low_pos', 'high_pos')


def _write_examples(path, n=600, seed=0):
  rng = np.random.default_rng(seed)
  with tf.io.TFRecordWriter(path) as writer:
    for s in rng.normal(size=n):
      counts = {
        'lib': rng.poisson(5),
        'low_pos': rng.poisson(40 / (1 + np.exp(-4 * (s - 0.5)))),
        'low_neg': rng.poisson(5),
        'high_pos': rng.poisson(40 / (1 + np.exp(-4 * (s - 1.5)))),
        'high_neg': rng.poisson(5),
      }
      feature = {
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
        for k, v in counts.items()
      }
      for name, value in (('score', s), ('gc', rng.random())):
        feature[name] = tf.train.Feature(
          float_list=tf.train.FloatList(value=[value])
        )
      feature['sequence'] = tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[b'ACGT'])
      )
      writer.write(
        tf.train.Example(
          features=tf.train.Features(feature=feature)
        ).SerializeToString()
      )


class _Model(tf.Module):
  """Counts and an affinity from `score`; transform_features gives the
  slices, the evidence and a wide feature the metrics never read."""

  def __init__(self, noise):
    super().__init__()
    spec = {n: tf.io.FixedLenFeature([], tf.int64) for n in _READS}
    spec['score'] = tf.io.FixedLenFeature([], tf.float32)
    spec['gc'] = tf.io.FixedLenFeature([], tf.float32)
    signature = [tf.TensorSpec([None], tf.string, name='examples')]
    noise = tf.constant(float(noise))

    @tf.function(input_signature=signature)
    def serve(examples):
      f = tf.io.parse_example(examples, spec)
      wobble = noise * tf.sin(37.0 * f['gc'])
      return {
        'low_pos': tf.cast(f['low_pos'], tf.float32) + wobble,
        'high_pos': f['score'] + wobble,
        'affinity_target': f['score'] + wobble,
      }

    @tf.function(input_signature=signature)
    def transform_features(examples):
      f = tf.io.parse_example(examples, spec)
      depths = {n: tf.constant(4000.0) for n in _READS}
      out = be.evidence_from_counts(f, depths, _SPEC)
      out[_GC] = tf.where(f['gc'] < 0.5, b'low', b'high')
      out[_ABUNDANCE] = tf.where(f['lib'] < 5, b'rare', b'abundant')
      out['wide'] = tf.one_hot(f['lib'] % 160, 160)
      return out

    self.serve = serve
    self.transform_features = transform_features


def _save(path, noise):
  model = _Model(noise)
  tf.saved_model.save(
    model,
    path,
    signatures={
      'serving_default': model.serve,
      'transform_features': model.transform_features,
    },
  )
  return path


def _analyse(tmp, models, config, extractors, name):
  output = str(tmp / name)
  tfma.run_model_analysis(
    eval_shared_model=models,
    eval_config=config,
    data_location=str(tmp / 'examples.tfrecord'),
    output_path=output,
    extractors=extractors,
  )
  metrics = {
    (str(m.slice_key), str(kv.key)): (
      kv.value.double_value.value
      if kv.value.HasField('double_value')
      else kv.value.SerializeToString()
    )
    for m in tfma.load_metrics(output)
    for kv in m.metric_keys_and_values
  }
  return metrics, tfma.load_validation_result(output)


def _failures(validation):
  """The (slice, metric key) of every failed threshold."""
  return sorted(
    (str(per_slice.slice_key), str(failure.metric_key))
    for per_slice in validation.metric_validations_per_slice
    for failure in per_slice.failures
  )


def _assert_same_metrics(actual, expected):
  """Same keys; values equal up to float32 rounding (NaN equals NaN).

  Two runs of TFMA's default extractors differ too, by up to 1e-9 in a
  Pearson correlation here: TFMA batches examples dynamically, and the
  model's float32 kernels round differently for different batches. That
  rounding can also reorder two predictions tied to 1e-7, and a rank
  correlation moves by 12 * (their gap in the other ranking) / (n (n^2 - 1))
  per such swap: 3e-6 was seen for a slice of about 200 examples, where one
  example more or less moves it by about 1e-3. So a Spearman may differ by
  1e-5, a few swaps.
  """
  assert sorted(actual) == sorted(expected)
  for key, value in expected.items():
    if isinstance(value, float):
      rank_correlation = 'spearman' in key[1]
      close = pytest.approx(
        value, rel=1e-6, abs=1e-5 if rank_correlation else 1e-9, nan_ok=True
      )
      assert actual[key] == close, key
    else:
      assert actual[key] == value, key


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('extractors')
  _write_examples(str(tmp / 'examples.tfrecord'))
  return tmp, _save(str(tmp / 'good'), 0.1), _save(str(tmp / 'worse'), 3.0)


def _per_example_config(outputs):
  """The pipeline's config with TFMA's ExampleCount, which counts extracts:
  the custom extractors must then unbatch before slicing."""
  config = _pipeline_config(outputs)
  for spec in config.metrics_specs:
    for metric in spec.metrics:
      if metric.class_name == 'RowExampleCount':
        metric.class_name = 'ExampleCount'
        metric.module = ''
  return config


@pytest.mark.parametrize('batched', [True, False], ids=['batched', 'unbatched'])
@pytest.mark.parametrize('with_baseline', [False, True])
def test_custom_extractors_give_tfma_defaults_values(
  saved, with_baseline, batched
):
  tmp, good, worse = saved
  config = (
    _pipeline_config(_OUTPUTS) if batched else _per_example_config(_OUTPUTS)
  )
  config = tfma.utils.update_eval_config_with_defaults(
    config, has_baseline=with_baseline, rubber_stamp=True
  )
  if with_baseline:
    models = [
      tfma.default_eval_shared_model(path, model_name=name, eval_config=config)
      for name, path in ((tfma.CANDIDATE_KEY, worse), (tfma.BASELINE_KEY, good))
    ]
  else:
    models = tfma.default_eval_shared_model(good, eval_config=config)
  extractors = evaluator_extractors.custom_extractors(models, config)
  names = [e.stage_name for e in extractors]
  assert lean_extracts.STAGE_NAME in names
  [slicing] = [e for e in extractors if e.stage_name == slice_keys.STAGE_NAME]
  if batched:
    # Trimmed batches go straight to the batch slicer.
    assert fast_unbatch.STAGE_NAME not in names
    assert isinstance(slicing.ptransform.fn, slice_batches.SliceBatchesFn)
    assert names.index(lean_extracts.STAGE_NAME) + 1 == names.index(
      slice_keys.STAGE_NAME
    )
  else:
    assert names.index(lean_extracts.STAGE_NAME) + 1 == names.index(
      fast_unbatch.STAGE_NAME
    )
    assert isinstance(slicing.ptransform.fn, slice_keys.CachedSliceKeysFn)
  tag = ('baseline' if with_baseline else 'single') + (
    '_batched' if batched else '_unbatched'
  )
  default, default_validation = _analyse(tmp, models, config, None, tag)
  custom, custom_validation = _analyse(
    tmp, models, config, extractors, tag + '_custom'
  )
  slices = {s for s, _ in default}
  # Overall, two GC and two abundance buckets; counts, rank metrics and
  # affinity metrics in each.
  assert len(slices) == 5
  assert any('affinity/auc_hits_strictest' in k for _, k in default)
  counts = {  # Per slice (both models' counts are the same).
    s: v
    for (s, k), v in default.items()
    if 'example_count' in k and 'is_diff' not in k
  }
  assert counts[''] == 600  # The overall slice.
  assert sum(counts.values()) == 3 * 600  # Each example in three slices.
  _assert_same_metrics(custom, default)
  assert custom_validation.validation_ok == default_validation.validation_ok
  assert _failures(custom_validation) == _failures(default_validation)
  # A worse candidate than its baseline fails the change threshold.
  assert default_validation.validation_ok is (not with_baseline)
  assert bool(_failures(default_validation)) is with_baseline


def test_evaluator_module_path_has_the_hook():
  module = importlib.import_module(eval_config.EVALUATOR_MODULE)
  assert module.custom_extractors is evaluator_extractors.custom_extractors


def test_the_pipeline_evaluator_uses_the_hook():
  stage = stages.evaluation_stage(
    tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples),
    tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
    ['low_pos'],
    run_options.pipeline_config(run_options.RunOptions()),
  )
  [evaluator] = [c for c in stage.components if c.id == 'Evaluator']
  # try_get_fn is how the executor looks it up (it hides a missing name).
  hook = udf_utils.try_get_fn(evaluator.exec_properties, 'custom_extractors')
  assert hook is evaluator_extractors.custom_extractors
