"""The TFMA affinity metric: its combiner in Beam, then a real TFMA run.

The real run evaluates a tiny SavedModel whose `transform_features`
signature computes the binding evidence with the production TF code, through
the production EvalConfig (`eval_config.make_eval_config`), once with an
informative and once with an inverted affinity; the validation messages are
tested on the inverted run's real ValidationResult.
"""

import json
import os

import beam_combine
import eval_configs
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

from components.config import blessing
from components.evaluation import affinity_metrics as am
from components.evaluation import eval_config
from components.evaluation import slice_batches
from components.evaluation import tfma_affinity_metrics
from components.evaluation import validation_messages
from components.features import binding_evidence as be

_EVIDENCE = {'affinity_target': 'target', 'affinity_target_vs_serum': 'target'}
_BUCKET = be.bucket_feature('target')
_ENRICHMENT = be.enrichment_feature('target')


def _data(n=600, seed=0):
  rng = np.random.default_rng(seed)
  affinity = rng.normal(size=n)
  bucket = np.digitize(affinity + rng.normal(0, 0.5, n), [0.5, 1.5])
  enrichment = affinity + rng.normal(0, 1.0, n)
  return affinity, bucket, enrichment


def _element(affinity, bucket, enrichment, model_name='', where='transformed'):
  one = lambda v: np.array([v])  # noqa: E731
  predictions = {
    'affinity_target': one(affinity),
    'affinity_target_vs_serum': one(-affinity),
    'reads': one(0.0),
  }
  features = {_BUCKET: one(bucket), _ENRICHMENT: one(enrichment)}
  if model_name:
    predictions = {model_name: predictions, 'other': {}}
    features = {model_name: features}
  extracts = {
    'labels': {'reads': one(0.0)},
    'predictions': predictions,
    'example_weights': None,
  }
  extracts['transformed_features' if where == 'transformed' else 'features'] = (
    features
  )
  return metric_types.StandardMetricInputs(extracts)


def _batch_element(rows, model_name='', where='transformed'):
  """Several examples in one extract, as slice_batches gives them: one row
  each, the bucket as an (n, 1) column, the count under ROWS_KEY."""
  affinity, bucket, enrichment = (np.asarray(c) for c in zip(*rows))
  predictions = {
    'affinity_target': affinity,
    'affinity_target_vs_serum': -affinity,
    'reads': np.zeros(len(rows)),
  }
  features = {_BUCKET: bucket.reshape(-1, 1), _ENRICHMENT: enrichment}
  if model_name:
    predictions = {model_name: predictions, 'other': {}}
    features = {model_name: features}
  extracts = {
    'labels': {'reads': np.zeros(len(rows))},
    'predictions': predictions,
    'example_weights': None,
    slice_batches.ROWS_KEY: np.int64(len(rows)),
  }
  extracts['transformed_features' if where == 'transformed' else 'features'] = (
    features
  )
  return metric_types.StandardMetricInputs(extracts)


def _combine(computation, elements):
  result = beam_combine.combine_globally(computation.combiner, elements)
  return {(k.model_name, k.output_name, k.name): v for k, v in result.items()}


@pytest.mark.parametrize('batched', [False, True], ids=['examples', 'batches'])
@pytest.mark.parametrize(
  'model_name, where',
  [('', 'transformed'), ('candidate', 'transformed'), ('', 'features')],
)
def test_combiner_equals_the_numpy_metrics(model_name, where, batched):
  affinity, bucket, enrichment = _data()
  metric = tfma_affinity_metrics.AffinityEvidenceMetrics(
    evidence=_EVIDENCE, num_levels={'target': 2}
  )
  [computation] = metric.computations(model_names=[model_name])
  rows = list(zip(affinity, bucket, enrichment))
  if batched:
    # Uneven batches, one of a single example.
    cuts = [0, 1, 65, 300, len(rows)]
    elements = [
      _batch_element(rows[a:b], model_name=model_name, where=where)
      for a, b in zip(cuts, cuts[1:])
    ]
  else:
    elements = [
      _element(*row, model_name=model_name, where=where) for row in rows
    ]
  # An example without evidence (e.g. a baseline predating it) is skipped.
  elements.append(
    metric_types.StandardMetricInputs(
      labels={},
      predictions={'affinity_target': np.array([9.0])},
      transformed_features={},
    )
  )
  result = _combine(computation, elements)
  for output, sign in (
    ('affinity_target', 1),
    ('affinity_target_vs_serum', -1),
  ):
    expected = am.affinity_metrics(sign * affinity, bucket, enrichment, 2)
    for name, value in expected.as_dict().items():
      assert result[(model_name, output, name)] == pytest.approx(value), name
  assert result[(model_name, 'affinity_target', am.COUNT)] == len(affinity)
  # The preprocessor keeps the evidence features, per model when keyed.
  [preprocessor] = computation.preprocessors
  kept = preprocessor.include_filter['transformed_features']
  assert _BUCKET in kept and _ENRICHMENT in kept
  if model_name:
    assert _BUCKET in kept[model_name]


def test_only_named_emits_one_key_per_output_and_levels_are_inferred():
  affinity, bucket, enrichment = _data(n=200, seed=1)
  metric = tfma_affinity_metrics.AffinityEvidenceMetrics(
    evidence={'affinity_target': 'target'},
    name=am.SPEARMAN_ENRICHMENT,
    only_named=True,
  )
  [computation] = metric.computations(model_names=[''])
  result = _combine(
    computation,
    [_element(*row) for row in zip(affinity, bucket, enrichment)],
  )
  assert list(result) == [('', 'affinity_target', am.SPEARMAN_ENRICHMENT)]
  # Without num_levels, K is the largest bucket seen.
  metric = tfma_affinity_metrics.AffinityEvidenceMetrics(
    evidence={'affinity_target': 'target'}
  )
  [computation] = metric.computations(model_names=[''])
  result = _combine(
    computation,
    [_element(*row) for row in zip(affinity, bucket, enrichment)],
  )
  assert ('', 'affinity_target', am.auc_key(bucket.max())) in result
  assert ('', 'affinity_target', am.auc_key(bucket.max() + 1)) not in result


def test_bad_configuration_is_rejected():
  with pytest.raises(ValueError, match='at least one output'):
    tfma_affinity_metrics.AffinityEvidenceMetrics(evidence={})
  with pytest.raises(ValueError, match='name must be one of'):
    tfma_affinity_metrics.AffinityEvidenceMetrics(
      evidence={'affinity_target': 'target'}, name='affinity/auc_hits_3'
    )
  with pytest.raises(ValueError, match='num_levels must be >= 1'):
    tfma_affinity_metrics.AffinityEvidenceMetrics(
      evidence={'affinity_target': 'target'}, num_levels={'target': 0}
    )


def test_eval_config_gates_each_affinity_output():
  config = eval_config.make_eval_config(
    ['reads'],
    0.6,
    affinity_evidence={'affinity_target': 'target'},
    min_affinity_auc=0.7,
    min_affinity_spearman=0.2,
    evidence_levels={'target': 3},
  )
  assert len(config.metrics_specs) == 2
  spec = config.metrics_specs[1]
  assert list(spec.output_names) == ['affinity_target']
  bounds = {
    json.loads(m.config)['name']: m.per_slice_thresholds[
      0
    ].threshold.value_threshold.lower_bound.value
    for m in spec.metrics
  }
  assert bounds == pytest.approx(
    {am.HEADLINE_AUC: 0.7, am.SPEARMAN_ENRICHMENT: 0.2}
  )
  # No evidence: the count-fit configuration as before.
  plain = eval_config.make_eval_config(['reads'], 0.6)
  assert len(plain.metrics_specs) == 1
  assert (
    eval_config.make_eval_config(
      ['reads'], 0.6, min_affinity_auc=0.7, min_affinity_spearman=0.2
    )
    == plain
  )
  with pytest.raises(ValueError, match='need min_affinity_auc'):
    eval_config.make_eval_config(
      ['reads'], 0.6, affinity_evidence={'affinity_target': 'target'}
    )


# --- A real TFMA run -------------------------------------------------------

_SPEC = be.EvidenceSpec(
  'target',
  (
    be.EvidenceRound('low', 100, 'low_pos', 'low_neg', 'lib'),
    be.EvidenceRound('high', 10, 'high_pos', 'high_neg', 'lib'),
  ),
)
_READS = ('high_neg', 'high_pos', 'lib', 'low_neg', 'low_pos')


def _write_examples(path, n=800, seed=0):
  """Counts from a hidden affinity `score`; depths are fixed below."""
  rng = np.random.default_rng(seed)
  score = rng.normal(size=n)
  with tf.io.TFRecordWriter(path) as writer:
    for s in score:
      counts = {
        'lib': rng.poisson(5),
        'low_pos': rng.poisson(40 / (1 + np.exp(-4 * (s - 0.5)))),
        'low_neg': rng.poisson(5),
        'high_pos': rng.poisson(40 / (1 + np.exp(-4 * (s - 1.5)))),
        'high_neg': rng.poisson(5),
      }
      feature = {
        n: tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
        for n, v in counts.items()
      }
      feature['score'] = tf.train.Feature(
        float_list=tf.train.FloatList(value=[s])
      )
      writer.write(
        tf.train.Example(
          features=tf.train.Features(feature=feature)
        ).SerializeToString()
      )


class _Model(tf.Module):
  """Serves `low_pos` and `affinity_target` (= sign * score); its
  `transform_features` computes the evidence from the raw counts."""

  def __init__(self, sign):
    super().__init__()
    self._sign = tf.constant(float(sign))
    spec = {n: tf.io.FixedLenFeature([], tf.int64) for n in _READS}
    spec['score'] = tf.io.FixedLenFeature([], tf.float32)
    signature = [tf.TensorSpec([None], tf.string, name='examples')]

    @tf.function(input_signature=signature)
    def serve(examples):
      f = tf.io.parse_example(examples, spec)
      return {
        'low_pos': tf.cast(f['low_pos'], tf.float32),
        'affinity_target': self._sign * f['score'],
      }

    @tf.function(input_signature=signature)
    def transform_features(examples):
      f = tf.io.parse_example(examples, spec)
      depths = {n: tf.constant(4000.0) for n in _READS}
      return be.evidence_from_counts(f, depths, _SPEC)

    self.serve = serve
    self.transform_features = transform_features


def _save(tmp_path, sign) -> str:
  model_dir = str(tmp_path / f'model_{sign}')
  model = _Model(sign)
  tf.saved_model.save(
    model,
    model_dir,
    signatures={
      'serving_default': model.serve,
      'transform_features': model.transform_features,
    },
  )
  return model_dir


def _evaluate(tmp_path, candidate, baseline=None):
  """Runs TFMA as the TFX Evaluator does; the overall slice's metrics."""
  data = str(tmp_path / 'examples.tfrecord')
  if not os.path.exists(data):
    _write_examples(data)
  config = eval_configs.pipeline_like(
    evidence_levels={'target': _SPEC.num_levels}
  )
  # As tfx's Evaluator: no baseline drops the change thresholds.
  config = tfma.utils.update_eval_config_with_defaults(
    config, has_baseline=baseline is not None, rubber_stamp=True
  )
  if baseline is None:
    models = tfma.default_eval_shared_model(candidate, eval_config=config)
  else:
    models = [
      tfma.default_eval_shared_model(path, model_name=name, eval_config=config)
      for name, path in (
        (tfma.CANDIDATE_KEY, candidate),
        (tfma.BASELINE_KEY, baseline),
      )
    ]
  output = str(tmp_path / ('evaluation_' + os.path.basename(candidate)))
  tfma.run_model_analysis(
    eval_shared_model=models,
    eval_config=config,
    data_location=data,
    output_path=output,
  )
  overall = {}
  for metrics in tfma.load_metrics(output):
    if not metrics.slice_key.single_slice_keys:
      for kv in metrics.metric_keys_and_values:
        if kv.key.model_name in ('', tfma.CANDIDATE_KEY) and not kv.key.is_diff:
          key = (kv.key.output_name, kv.key.name)
          overall[key] = kv.value.double_value.value
  return output, overall


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """The informative model alone; the inverted one against it as baseline."""
  tmp = tmp_path_factory.mktemp('tfma')
  good, bad = _save(tmp, 1), _save(tmp, -1)
  return {1: _evaluate(tmp, good), -1: _evaluate(tmp, bad, baseline=good)}


def test_real_run_reports_affinity_keys_from_transformed_features(runs):
  _, good = runs[1]
  _, bad = runs[-1]
  auc = ('affinity_target', am.HEADLINE_AUC)
  rho = ('affinity_target', am.SPEARMAN_ENRICHMENT)
  assert good[auc] > 0.8 and good[rho] > 0.3
  assert bad[auc] == pytest.approx(1 - good[auc])
  assert bad[rho] == pytest.approx(-good[rho])
  assert good[('affinity_target', am.COUNT)] == 800
  assert ('affinity_target', am.auc_key(2)) in good
  # The count-fit metrics are still reported (mean over outputs: '').
  assert ('', 'auc/true_top_1p') in good


def test_inverted_affinity_fails_the_blessing_and_the_truth_passes(runs):
  good_dir, _ = runs[1]
  bad_dir, bad = runs[-1]
  assert tfma.load_validation_result(good_dir).validation_ok
  assert validation_messages.evaluation_failures(good_dir) == []
  result = tfma.load_validation_result(bad_dir)
  assert not result.validation_ok
  lines = validation_messages.evaluation_failures(bad_dir)
  defaults = blessing.BlessingConfig()
  auc = bad[('affinity_target', am.HEADLINE_AUC)]
  rho = bad[('affinity_target', am.SPEARMAN_ENRICHMENT)]
  assert sorted(lines) == sorted(
    [
      f'affinity_target (target): affinity/auc_hits_strictest = {auc:.3f}, '
      f'needs >= {defaults.min_affinity_auc:g}',
      f'affinity_target (target): affinity/spearman_enrichment = {rho:.3f}, '
      f'needs >= {defaults.min_affinity_spearman:g}',
    ]
  )


def test_messages_for_count_metrics_slices_and_changes():
  result = tfma.ValidationResult(validation_ok=False)
  per_slice = result.metric_validations_per_slice.add()
  per_slice.slice_key.single_slice_keys.add(
    column='gc_content_bucket', bytes_value=b'GC 30-40%'
  )
  failure = per_slice.failures.add()
  failure.metric_key.name = 'auc/true_top_1p'
  failure.metric_key.is_diff = True
  failure.metric_value.double_value.value = -0.0213
  failure.metric_threshold.change_threshold.absolute.value = -1e-10
  failure.metric_threshold.change_threshold.direction = (
    tfma.MetricDirection.HIGHER_IS_BETTER
  )
  failure = per_slice.failures.add()
  failure.metric_key.name = 'spearman_correlation/score_all'
  failure.metric_key.output_name = 'round2_positive'
  failure.metric_value.double_value.value = float('nan')
  failure.metric_threshold.value_threshold.lower_bound.value = 0.1
  # A value that would round to its bound gets more digits.
  failure = per_slice.failures.add()
  failure.metric_key.name = 'auc/true_top_1p'
  failure.metric_value.double_value.value = 0.59996
  failure.metric_threshold.value_threshold.lower_bound.value = 0.6
  assert validation_messages.failure_lines(result) == [
    'mean over outputs [gc_content_bucket=GC 30-40%]: auc/true_top_1p, '
    'change vs baseline = -0.021, needs >= -1e-10',
    'round2_positive [gc_content_bucket=GC 30-40%]: '
    'spearman_correlation/score_all = nan, needs >= 0.1',
    'mean over outputs [gc_content_bucket=GC 30-40%]: auc/true_top_1p = '
    '0.59996, needs >= 0.6',
  ]


def test_affinity_evidence_maps_served_molecules_with_evidence():
  from components.config import model_options
  from schema import experiment as experiment_lib

  demo = experiment_lib.load_experiment(
    os.path.join(
      os.path.dirname(__file__), '..', 'data', 'demo', 'experiment.pbtxt'
    )
  )
  latent = model_options.ModelOptions()
  # Serum is served too, but has no evidence (never a target).
  assert eval_config.affinity_evidence(demo, latent) == {
    'affinity_target': 'target'
  }
  assert eval_config.evidence_levels(demo) == {'target': 3}
  observed = model_options.ModelOptions(
    output_layer='FULLY_OBSERVED',
    affinity_target_map={'serum': ['round2_high_with_serum_positive']},
  )
  # A sweep that may pick a layer not serving the target maps nothing.
  assert eval_config.affinity_evidence(demo, observed) == {}
  assert eval_config.affinity_evidence(demo, latent, ['FULLY_OBSERVED']) == {}
  # Serum as background in the only round: one combined latent,
  # `target_vs_serum`; it carries the target's signs, so the target's
  # evidence judges it.
  confounded = experiment_lib.parse_experiment("""
sequence_length: 4
rounds { key: "lib" value { method: RANDOM positive_reads { name: "lib" } } }
rounds {
  key: "r1"
  value {
    input: "lib" method: PARTICLE_DISPLAY
    target_concentrations { key: "target" value: 10 }
    background_concentrations { key: "serum" value: 100 }
    positive_reads { name: "r1_pos" } negative_reads { name: "r1_neg" }
  }
}
""")
  assert eval_config.affinity_evidence(confounded, latent) == {
    'affinity_target_vs_serum': 'target'
  }
