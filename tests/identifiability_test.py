"""Tests for schema.identifiability: which latent affinities a design separates."""

import dataclasses
import os

import pytest

from schema import experiment as experiment_lib
from schema import identifiability as ident_lib

_DEMO = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
  'data',
  'demo',
  'experiment.pbtxt',
)

_LIBRARY = """
sequence_length: 8
rounds {
  key: "library"
  value { method: RANDOM positive_reads { name: "lib" } }
}
"""


def _round(name, source, targets, backgrounds=(), negatives=True):
  """A particle-display round in text format, reads named after the round."""
  text = f'rounds {{ key: "{name}" value {{ input: "{source}" '
  text += 'method: PARTICLE_DISPLAY '
  for molecule, conc in targets:
    text += f'target_concentrations {{ key: "{molecule}" value: {conc} }} '
  for molecule, conc in backgrounds:
    text += f'background_concentrations {{ key: "{molecule}" value: {conc} }} '
  text += f'positive_reads {{ name: "{name}_pos" }} '
  if negatives:
    text += f'negative_reads {{ name: "{name}_neg" }} '
  return text + '} }\n'


def _parse(*rounds):
  return experiment_lib.parse_experiment(_LIBRARY + ''.join(rounds))


def _text(result):
  return '\n'.join(result.describe())


# (a) The reported case: serum is a background in every round with the
# target (the target concentration changes, serum's does not).
_SERUM_EVERYWHERE = (
  _round('round1', 'library', [('target', 32)], [('serum', 1)]),
  _round('round2', 'round1', [('target', 8)], [('serum', 1)]),
)


def test_serum_background_in_every_round_is_confounded():
  result = ident_lib.identifiability(_parse(*_SERUM_EVERYWHERE))
  assert result.confounded_groups == (('target', 'serum'),)
  assert result.separable == ()
  assert result.unobserved == ()
  assert ident_lib.combined_name(result.confounded_groups[0]) == (
    'target_vs_serum'
  )


def test_describe_names_the_confounded_pair_and_its_rounds():
  lines = ident_lib.identifiability(_parse(*_SERUM_EVERYWHERE)).describe()
  assert len(lines) == 1
  line = lines[0]
  assert line.startswith('target and serum are confounded:')
  assert 'opposite sign pattern' in line
  assert '(rounds round1, round2)' in line
  assert 'not identifiable' in line
  assert 'difference (target - serum)' in line


def test_concentrations_do_not_separate_a_confounded_pair():
  # Same presence and signs, very different concentration ratios: the model
  # never sees concentrations, so the pair stays confounded.
  result = ident_lib.identifiability(
    _parse(
      _round('round1', 'library', [('target', 1000)], [('serum', 1)]),
      _round('round2', 'round1', [('target', 1)], [('serum', 1000)]),
    )
  )
  assert result.confounded_groups == (('target', 'serum'),)


# (b) Rounds with and without serum.
def test_demo_experiment_separates_target_and_serum():
  experiment = experiment_lib.load_experiment(_DEMO)
  signs = experiment_lib.selection_signs(experiment)
  # By hand: target is +1 on every positive and -1 on every negative read;
  # serum is -1 on the two with-serum positives and absent elsewhere.
  by_read = dict(zip(signs.reads, signs.matrix.T.tolist()))
  assert by_read['round2_high_with_serum_positive'] == [1.0, -1.0]
  assert by_read['round2_high_no_serum_positive'] == [1.0, 0.0]
  assert by_read['round2_high_no_serum_negative'] == [-1.0, 0.0]
  result = ident_lib.identifiability(experiment)
  assert result.separable == ('target', 'serum')
  assert result.confounded_groups == ()
  assert result.unobserved == ()
  text = _text(result)
  assert 'confounded' not in text
  assert 'serum is separable' in text
  assert 'target is separable' in text


def test_demo_trained_on_with_serum_reads_only_is_confounded():
  experiment = experiment_lib.load_experiment(_DEMO)
  reads = [
    'round2_high_with_serum_positive',
    'round2_medium_with_serum_positive',
  ]
  result = ident_lib.identifiability(experiment, reads)
  assert result.confounded_groups == (('target', 'serum'),)
  assert result.separable == ()


def test_demo_trained_on_no_serum_reads_leaves_serum_unobserved():
  experiment = experiment_lib.load_experiment(_DEMO)
  reads = ['round2_high_no_serum_positive', 'round2_low_no_serum_positive']
  result = ident_lib.identifiability(experiment, reads)
  assert result.separable == ('target',)
  assert result.unobserved == ('serum',)
  assert result.confounded_groups == ()


def test_pair_differing_in_one_column_is_separable_and_says_where():
  # Serum accompanies the target in round1 and round2 but not in round3:
  # proportional on four of five columns, not on all of them.
  result = ident_lib.identifiability(
    _parse(
      _round('round1', 'library', [('target', 4)], [('serum', 1)]),
      _round('round2', 'round1', [('target', 2)], [('serum', 1)]),
      _round('round3', 'round2', [('target', 1)], negatives=False),
    )
  )
  assert result.separable == ('target', 'serum')
  assert result.confounded_groups == ()
  text = _text(result)
  assert 'confounded' not in text
  assert (
    'serum goes with it with the opposite sign in 4 shared read column(s) '
    'but not in round3_pos (only one of them is present there)'
  ) in text


# (c) Three molecules: two confounded, one separable.
def test_two_backgrounds_always_together_are_confounded_target_is_not():
  result = ident_lib.identifiability(
    _parse(
      _round(
        'round1', 'library', [('target', 4)], [('serum', 1), ('beads', 1)]
      ),
      _round('round2', 'round1', [('target', 2)], [('serum', 1), ('beads', 2)]),
      _round('round3', 'round2', [('target', 1)]),
    )
  )
  # Axis order: sorted targets, then sorted backgrounds.
  assert result.signs.molecules == ('target', 'beads', 'serum')
  assert result.confounded_groups == (('beads', 'serum'),)
  assert result.separable == ('target',)
  assert result.unobserved == ()
  assert ident_lib.combined_name(result.confounded_groups[0]) == (
    'beads_vs_serum'
  )
  text = _text(result)
  assert 'beads and serum are confounded' in text
  assert 'the same sign pattern' in text
  assert 'sum (beads + serum)' in text
  assert 'target is separable' in text
  assert 'target and' not in text


# (d) Anti-proportional: each molecule is the target where the other is the
# background, so the sign rows are exact negatives.
def test_swapped_target_and_background_roles_are_confounded():
  result = ident_lib.identifiability(
    _parse(
      _round('round1', 'library', [('alpha', 1)], [('beta', 1)]),
      _round('round2', 'round1', [('beta', 1)], [('alpha', 1)]),
    )
  )
  rows = result.signs.matrix.tolist()
  assert rows[0] == [-x for x in rows[1]]
  assert result.confounded_groups == (('alpha', 'beta'),)
  assert result.separable == ()
  text = _text(result)
  assert 'alpha and beta are confounded' in text
  assert 'opposite sign pattern' in text


def test_two_targets_always_together_are_confounded_with_same_sign():
  result = ident_lib.identifiability(
    _parse(
      _round('round1', 'library', [('target', 1), ('tag', 5)]),
      _round('round2', 'round1', [('target', 2), ('tag', 5)]),
    )
  )
  assert result.confounded_groups == (('tag', 'target'),)
  assert 'the same sign pattern' in _text(result)


# (e) A molecule in no sequenced round.
def test_molecule_only_in_an_unsequenced_round_is_unobserved():
  experiment = experiment_lib.parse_experiment(
    _LIBRARY
    + """
rounds {
  key: "round1"
  value {
    input: "library" method: PARTICLE_DISPLAY
    target_concentrations { key: "target" value: 100 }
    background_concentrations { key: "competitor" value: 10 }
  }
}
"""
    + _round('round2', 'round1', [('target', 10)])
  )
  result = ident_lib.identifiability(experiment)
  assert result.unobserved == ('competitor',)
  assert result.separable == ('target',)
  assert result.confounded_groups == ()
  text = _text(result)
  assert 'competitor is unobserved' in text
  assert 'confounded' not in text


# Beyond pairs: no two rows are proportional, but they are dependent.
def test_three_way_dependence_is_confounded_until_a_round_breaks_it():
  two_rounds = (
    _round('round1', 'library', [('t1', 1)], [('serum', 1)], negatives=False),
    _round('round2', 'library', [('t2', 1)], [('serum', 1)], negatives=False),
  )
  result = ident_lib.identifiability(_parse(*two_rounds))
  # Rows t1 = [1, 0], t2 = [0, 1], serum = [-1, -1]: serum = -(t1 + t2).
  assert result.confounded_groups == (('t1', 't2', 'serum'),)
  assert result.separable == ()
  assert 'linearly dependent' in _text(result)
  assert ident_lib.combined_name(result.confounded_groups[0]) == (
    't1_vs_t2_vs_serum'
  )
  broken = ident_lib.identifiability(
    _parse(*two_rounds, _round('round3', 'library', [('t1', 1)]))
  )
  assert broken.separable == ('t1', 't2', 'serum')
  assert broken.confounded_groups == ()


def test_independent_confounded_pairs_stay_separate_groups():
  result = ident_lib.identifiability(
    _parse(
      _round('round1', 'library', [('a', 1)], [('b', 1)], negatives=False),
      _round('round2', 'library', [('c', 1)], [('d', 1)], negatives=False),
    )
  )
  assert result.confounded_groups == (('a', 'b'), ('c', 'd'))
  assert result.separable == ()


def test_result_is_frozen():
  result = ident_lib.identifiability(_parse(*_SERUM_EVERYWHERE))
  with pytest.raises(dataclasses.FrozenInstanceError):
    result.separable = ('target',)


# What a LATENT_* model serves: model_axes.
def test_model_axes_serve_one_latent_for_an_opposite_pair():
  axes = ident_lib.model_axes(_parse(*_SERUM_EVERYWHERE))
  signs = experiment_lib.selection_signs(_parse(*_SERUM_EVERYWHERE))
  assert axes.molecules == ('target_vs_serum',)
  assert axes.reads == signs.reads
  # The target's signs: the combined latent rises with target binding.
  assert axes.matrix.tolist() == [signs.matrix[0].tolist()]


def test_model_axes_join_an_equal_pair_with_and():
  axes = ident_lib.model_axes(
    _parse(
      _round(
        'round1', 'library', [('target', 4)], [('serum', 1), ('beads', 1)]
      ),
      _round('round2', 'round1', [('target', 2)], [('serum', 1), ('beads', 2)]),
      _round('round3', 'round2', [('target', 1)]),
    )
  )
  assert axes.molecules == ('target', 'beads_and_serum')
  assert axes.matrix.shape == (2, 6)


def test_model_axes_keep_a_separable_design_and_drop_unobserved():
  demo = experiment_lib.load_experiment(_DEMO)
  axes = ident_lib.model_axes(demo)
  signs = experiment_lib.selection_signs(demo)
  assert axes.molecules == signs.molecules == ('target', 'serum')
  assert (axes.matrix == signs.matrix).all()
  no_serum = [r for r in signs.reads if 'no_serum' in r]
  axes = ident_lib.model_axes(demo, no_serum)
  assert axes.molecules == ('target',)
  assert axes.matrix.shape == (1, len(no_serum))


def test_model_axes_refuse_a_group_no_single_latent_carries():
  experiment = _parse(
    _round('round1', 'library', [('t1', 1)], [('serum', 1)], negatives=False),
    _round('round2', 'library', [('t2', 1)], [('serum', 1)], negatives=False),
  )
  with pytest.raises(ident_lib.IdentifiabilityError) as error:
    ident_lib.model_axes(experiment)
  message = str(error.value)
  assert 't1, t2 and serum are confounded' in message
  assert 'sequence a round that separates them' in message


def test_demo_serum_carries_the_nested_columns_caveat():
  result = ident_lib.identifiability(experiment_lib.load_experiment(_DEMO))
  assert result.nested_in('serum') == ['target']
  assert result.nested_in('target') == []
  text = _text(result)
  assert 'Caveat: every read column of serum also sees target' in text
