"""Tests for components/design/constraints.py."""

import numpy as np
import pytest

from components.design import constraints as constraints_lib

DesignConstraints = constraints_lib.DesignConstraints
DesignConstraintError = constraints_lib.DesignConstraintError


class TestDesignConstraints:
  def test_allows_length_letters_gc_motifs_avoid(self):
    constraints = DesignConstraints(
      10,
      gc_range=(0.3, 0.5),
      forbidden_motifs=('AAAA',),
      avoid=frozenset({'ACGTACGTAC'}),
    )
    assert constraints.allows('ACGTTCGTAT')  # 4/10 G+C
    assert not constraints.allows('ACGTACGTAC')  # avoided
    assert constraints.allows_composition('ACGTACGTAC')
    assert not constraints.allows('ACGTTCGTA')  # too short
    assert not constraints.allows('ACGTTCGTAN')  # not DNA
    assert not constraints.allows('GCGCGCATAT')  # 6/10 G+C
    assert not constraints.allows('ATATATATAT')  # 0/10 G+C
    assert not constraints.allows('CAAAAGCTTT')  # forbidden motif

  def test_gc_bounds_are_inclusive(self):
    constraints = DesignConstraints(40, gc_range=(0.3, 0.7))
    assert constraints.allows('G' * 12 + 'A' * 28)
    assert not constraints.allows('G' * 11 + 'A' * 29)
    assert constraints.allows('G' * 28 + 'A' * 12)
    assert not constraints.allows('G' * 29 + 'A' * 11)

  def test_vectorised_matches_scalar(self):
    rng = np.random.default_rng(0)
    constraints = DesignConstraints(
      12,
      gc_range=(0.4, 0.6),
      forbidden_motifs=('GGG', 'TTT'),
    )
    codes = rng.integers(0, 4, size=(500, 12), dtype=np.uint8)
    sequences = constraints_lib.decode(codes)
    expected = [constraints.allows(s) for s in sequences]
    assert constraints.allows_codes(codes).tolist() == expected
    assert 0 < sum(expected) < 500
    assert constraints_lib.encode(sequences, 12).tolist() == codes.tolist()

  @pytest.mark.parametrize(
    'gc_range', [(0.7, 0.3), (-0.1, 0.5), (0.2, 1.5), ('a', 'b'), (0.5,)]
  )
  def test_bad_gc_range_names_value(self, gc_range):
    with pytest.raises(DesignConstraintError) as error:
      DesignConstraints(40, gc_range=gc_range)
    assert repr(gc_range) in str(error.value)

  @pytest.mark.parametrize('motif', ['ACGN', '', 'acgt'])
  def test_bad_motif_names_value(self, motif):
    with pytest.raises(DesignConstraintError) as error:
      DesignConstraints(40, forbidden_motifs=('AAAA', motif))
    assert repr(motif) in str(error.value)

  def test_motifs_as_a_single_string_rejected(self):
    with pytest.raises(DesignConstraintError, match='AAAA'):
      DesignConstraints(40, forbidden_motifs='AAAA')

  @pytest.mark.parametrize('length', [0, -3, 2.5, True])
  def test_bad_length_names_value(self, length):
    with pytest.raises(DesignConstraintError, match=repr(length)):
      DesignConstraints(length)

  def test_frozen_and_normalised(self):
    constraints = DesignConstraints(
      40, gc_range=[0, 1], forbidden_motifs=['AAA'], avoid={'A' * 40}
    )
    assert constraints.gc_range == (0.0, 1.0)
    assert constraints.forbidden_motifs == ('AAA',)
    assert isinstance(constraints.avoid, frozenset)
    with pytest.raises(AttributeError):
      constraints.sequence_length = 3


class TestFlags:
  def test_parse_gc_range(self):
    assert constraints_lib.parse_gc_range('0.3,0.7') == (0.3, 0.7)
    assert constraints_lib.parse_gc_range(' 0.3 , 0.7 ') == (0.3, 0.7)
    assert constraints_lib.parse_gc_range('') is None
    assert constraints_lib.parse_gc_range(None) is None

  @pytest.mark.parametrize('flag', ['0.3', '0.3,0.7,0.9', 'x,0.7', '0.8,0.2'])
  def test_bad_gc_range_flag_names_value(self, flag):
    with pytest.raises(DesignConstraintError) as error:
      constraints_lib.parse_gc_range(flag)
    assert repr(flag) in str(error.value)
    assert '--gc_range' in str(error.value)

  def test_parse_motifs(self):
    assert constraints_lib.parse_motifs('AAAAAA,GGGG') == ('AAAAAA', 'GGGG')
    assert constraints_lib.parse_motifs('aaaa, GGGG,aaaa') == ('AAAA', 'GGGG')
    assert constraints_lib.parse_motifs('') == ()

  @pytest.mark.parametrize('flag', ['AAAA,GGXG', 'AAAA,,GGGG'])
  def test_bad_motif_flag_names_value(self, flag):
    with pytest.raises(DesignConstraintError) as error:
      constraints_lib.parse_motifs(flag)
    assert repr(flag) in str(error.value)
    assert '--forbidden_motifs' in str(error.value)
