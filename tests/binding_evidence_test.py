"""Binding evidence: specs from hand-made experiments, hits by hand, Transform."""

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import schema_utils

from components.config import transform_config
from components.features import binding_evidence as be
from components.features import preprocessing
from schema import experiment as experiment_lib

_LIBRARY = """
sequence_length: 4
rounds {
  key: "library"
  value { method: RANDOM positive_reads { name: "lib" } }
}
"""


def _experiment(rounds: str):
  return experiment_lib.parse_experiment(_LIBRARY + rounds)


def _round(name, conc, entry, inputs='library', neg=True, method='PD', bg=''):
  method = {'PD': 'PARTICLE_DISPLAY', 'SELEX': 'SELEX'}[method]
  negative = f'negative_reads {{ name: "{name}_neg" }}' if neg else ''
  background = (
    f'background_concentrations {{ key: "{bg}" value: 100 }}' if bg else ''
  )
  positive = f'positive_reads {{ name: "{name}_pos" }}' if entry else ''
  return f"""
rounds {{
  key: "{name}"
  value {{
    input: "{inputs}" method: {method}
    target_concentrations {{ key: "target" value: {conc} }}
    {background} {positive} {negative}
  }}
}}"""


def _summary(spec):
  return [
    (r.name, r.target_concentration, r.positive, r.negative, r.input)
    for r in spec.rounds
  ]


def test_particle_display_with_negatives_least_stringent_first():
  experiment = _experiment(
    _round('high', 8, True, inputs='low') + _round('low', 512, True)
  )
  [spec] = be.evidence_specs(experiment)
  assert spec.molecule == 'target'
  assert _summary(spec) == [
    ('low', 512.0, 'low_pos', 'low_neg', 'lib'),
    ('high', 8.0, 'high_pos', 'high_neg', 'low_pos'),
  ]
  assert spec.levels == ((0,), (1,))
  assert spec.reads == ['high_neg', 'high_pos', 'lib', 'low_neg', 'low_pos']


def test_particle_display_positives_only_compare_with_the_input():
  experiment = _experiment(
    _round('a', 100, True, neg=False) + _round('b', 10, True, neg=False)
  )
  [spec] = be.evidence_specs(experiment)
  assert _summary(spec) == [
    ('a', 100.0, 'a_pos', '', 'lib'),
    ('b', 10.0, 'b_pos', '', 'lib'),
  ]


def test_selex_chain_takes_the_nearest_sequenced_ancestor():
  # s2 was not sequenced: s3's input pool is s1's positive reads.
  experiment = _experiment(
    _round('s1', 100, True, neg=False, method='SELEX')
    + _round('s2', 100, False, inputs='s1', neg=False, method='SELEX')
    + _round('s3', 100, True, inputs='s2', neg=False, method='SELEX')
  )
  [spec] = be.evidence_specs(experiment)
  assert _summary(spec) == [
    ('s1', 100.0, 's1_pos', '', 'lib'),
    ('s3', 100.0, 's3_pos', '', 's1_pos'),
  ]
  # Equal concentrations: one stringency level.
  assert spec.levels == ((0, 1),)
  assert spec.num_levels == 1


def test_serum_background_gets_no_evidence_and_sorts_after_at_equal_conc():
  experiment = _experiment(
    _round('m_serum', 128, True, neg=False, bg='serum')
    + _round('m', 128, True)
    + _round('low', 512, True)
  )
  specs = be.evidence_specs(experiment)
  assert [s.molecule for s in specs] == ['target']
  assert [r.name for r in specs[0].rounds] == ['low', 'm', 'm_serum']
  assert specs[0].levels == ((0,), (1, 2))


def test_rounds_without_a_reference_pool_are_left_out():
  # No negatives and an input that was never sequenced (nor its ancestors).
  text = """
sequence_length: 4
rounds {
  key: "unsequenced"
  value { method: RANDOM }
}
rounds {
  key: "library"
  value { method: RANDOM positive_reads { name: "lib" } }
}
""" + _round('r', 10, True, inputs='unsequenced', neg=False)
  assert be.evidence_specs(experiment_lib.parse_experiment(text)) == []


def test_demo_experiment_has_three_levels_for_the_target_only():
  path = os.path.join(
    os.path.dirname(__file__), '..', 'data', 'demo', 'experiment.pbtxt'
  )
  [spec] = be.evidence_specs(experiment_lib.load_experiment(path))
  assert spec.molecule == 'target'
  assert [r.target_concentration for r in spec.rounds] == [
    512,
    128,
    128,
    32,
    32,
  ]
  # The unsequenced round1 is skipped: the library is every round's input.
  assert {r.input for r in spec.rounds} == {'library'}
  assert spec.num_levels == 3


def test_spec_round_trips_through_json_and_the_transform_config():
  experiment = _experiment(_round('low', 512, True) + _round('hi', 8, True))
  [spec] = be.evidence_specs(experiment)
  assert be.EvidenceSpec.from_json(spec.to_json()) == spec
  config = transform_config.TransformConfig(
    sequence_length=4,
    target_names=['low_pos'],
    binding_evidence=[spec.to_dict()],
  )
  serialised = json.loads(json.dumps(config.to_custom_config()))
  loaded = transform_config.TransformConfig.from_custom_config(serialised)
  assert be.EvidenceSpec.from_dict(loaded.binding_evidence[0]) == spec
  # A config written before the field existed still loads, without evidence.
  del serialised['binding_evidence']
  old = transform_config.TransformConfig.from_custom_config(serialised)
  assert old.binding_evidence == []


def test_bad_specs_are_refused():
  low = be.EvidenceRound('low', 512, 'lp', 'ln')
  high = be.EvidenceRound('high', 8, 'hp', 'hn')
  with pytest.raises(ValueError, match='least to most'):
    be.EvidenceSpec('target', (high, low))
  with pytest.raises(ValueError, match='neither a negative nor an input'):
    be.EvidenceSpec('target', (be.EvidenceRound('r', 1, 'p'),))
  with pytest.raises(ValueError, match='needs a round'):
    be.EvidenceSpec('target', ())


# Level 1: `low` with a negative pool (and the library as input). Level 2:
# `mid` with a negative pool and no sequenced input, and `mid_bg` with
# neither a negative pool (a hit by enrichment over the library).
_SPEC = be.EvidenceSpec(
  'target',
  (
    be.EvidenceRound('low', 100, 'low_pos', 'low_neg', 'lib'),
    be.EvidenceRound('mid', 10, 'mid_pos', 'mid_neg', ''),
    be.EvidenceRound('mid_bg', 10, 'bg_pos', '', 'lib'),
  ),
)
_DEPTHS = {
  'low_pos': 100,
  'low_neg': 200,
  'lib': 1000,
  'mid_pos': 50,
  'mid_neg': 50,
  'bg_pos': 50,
}
# One row per case, columns in _DEPTHS order.
_ROWS = {
  # low: 10/100 > 0.5 * 4/200; mid: 6/50 > 0.5 * 2/50.
  'hit at both levels': (10, 4, 5, 6, 2, 0),
  # low: 2 positive reads, under the floor of 3; mid would be a hit.
  'too few reads': (2, 0, 3, 10, 0, 0),
  # low: 3/100 > 0.5 * 10/200; mid: no; mid_bg: log((5.5/50)/(5.5/1000)) =
  # log(20) > log(2).
  'level 2 by enrichment': (3, 10, 5, 0, 0, 5),
  # low: 5/100 = 0.5 * 20/200 exactly, not above the cutoff.
  'ratio at the cutoff': (5, 20, 5, 0, 0, 0),
  # low: no negative reads at all, enough positives: a hit; level 2 no.
  'no negative reads': (4, 0, 9, 1, 1, 1),
}


def _evidence(rows=_ROWS):
  counts = np.array(list(rows.values()), np.int64)
  columns = {n: tf.constant(counts[:, i]) for i, n in enumerate(_DEPTHS)}
  depths = {n: tf.constant(float(d)) for n, d in _DEPTHS.items()}
  out = be.evidence_from_counts(columns, depths, _SPEC)
  return {k: v.numpy() for k, v in out.items()}


def test_hits_and_buckets_by_hand():
  out = _evidence()
  hits = np.stack(
    [out[be.hit_feature('target', r.name)] for r in _SPEC.rounds], axis=1
  )
  np.testing.assert_array_equal(
    hits, [[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0], [1, 0, 0]]
  )
  np.testing.assert_array_equal(
    out[be.bucket_feature('target')], [2, 0, 2, 0, 1]
  )
  assert out[be.bucket_feature('target')].dtype == np.int64


def test_enrichment_by_hand():
  out = _evidence()

  def lf(count, name):
    return math.log((count + be.PSEUDOCOUNT) / _DEPTHS[name])

  expected = []
  for low_pos, low_neg, lib, mid_pos, mid_neg, bg_pos in _ROWS.values():
    del low_neg  # `low` has an input pool: compared with the library.
    rounds = [
      lf(low_pos, 'low_pos') - lf(lib, 'lib'),
      lf(mid_pos, 'mid_pos') - lf(mid_neg, 'mid_neg'),  # No input: negatives.
      lf(bg_pos, 'bg_pos') - lf(lib, 'lib'),
    ]
    expected.append(np.mean(rounds))
  np.testing.assert_allclose(
    out[be.enrichment_feature('target')], expected, rtol=1e-5
  )


def test_preprocessing_fn_emits_the_evidence_with_tft_depths(tmp_path):
  experiment = _experiment(
    _round('low', 512, True) + _round('high', 8, True, inputs='low', neg=False)
  )
  [spec] = be.evidence_specs(experiment)
  reads = experiment_lib.all_count_names(experiment)
  # Every column sums to 100 reads (the library to 40).
  rows = [
    {'lib': 10, 'low_pos': 10, 'low_neg': 10, 'high_pos': 80},
    {'lib': 10, 'low_pos': 0, 'low_neg': 50, 'high_pos': 0},
    {'lib': 10, 'low_pos': 40, 'low_neg': 30, 'high_pos': 10},
    {'lib': 10, 'low_pos': 50, 'low_neg': 10, 'high_pos': 10},
  ]
  raw = [
    dict(r, sequence=b'ACGT', cluster=i) for i, r in enumerate(rows, start=1)
  ]
  spec_map = {n: tf.io.FixedLenFeature([], tf.int64) for n in reads}
  spec_map.update(
    sequence=tf.io.FixedLenFeature([], tf.string),
    cluster=tf.io.FixedLenFeature([], tf.int64),
  )
  metadata = dataset_metadata.DatasetMetadata(
    schema_utils.schema_from_feature_spec(spec_map)
  )
  targets = experiment_lib.non_input_count_names(experiment)

  def run(evidence):
    config = transform_config.TransformConfig(
      sequence_length=4,
      target_names=targets,
      parent_names={t: '' for t in targets},
      binding_evidence=evidence,
    ).to_custom_config()
    with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=False):
      (result, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
        lambda inputs: preprocessing.preprocessing_fn(inputs, config)
      )
    return result

  result = run([spec.to_dict()])
  depths = {n: sum(r[n] for r in rows) for n in reads}
  expected = be.evidence_from_counts(
    {n: tf.constant([r[n] for r in rows]) for n in reads},
    {n: tf.constant(float(d)) for n, d in depths.items()},
    spec,
  )
  for name, values in expected.items():
    np.testing.assert_allclose(
      [r[name] for r in result], values.numpy(), rtol=1e-5, err_msg=name
    )
  # By hand: low is a hit where pos > 0.5 * neg (equal depths) and pos >= 3
  # (rows 1, 3, 4); high only in row 1: log(80.5 / 10.5) > log 2 (high's
  # input is low's positive pool), while rows 3 and 4 are depleted.
  assert [r[be.bucket_feature('target')] for r in result] == [2, 0, 1, 1]
  # Without an evidence spec, no evidence features (old configs).
  assert not [k for k in run([])[0] if k.startswith('evidence_')]
