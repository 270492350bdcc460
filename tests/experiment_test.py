"""Tests for schema.experiment: parsing, validation and derived names."""

import re

import numpy as np
import pytest

from schema import experiment as experiment_lib

# Two rounds: a library, then particle display against a target with serum
# as background, plus a second target-only round with positives only.
_TEXT = """
sequence_length: 8
rounds {
  key: "library"
  value { method: RANDOM positive_reads { name: "lib" } }
}
rounds {
  key: "r1"
  value {
    input: "library"
    method: PARTICLE_DISPLAY
    target_concentrations { key: "target" value: 32 }
    background_concentrations { key: "serum" value: 1 }
    positive_reads { name: "r1_pos" }
    negative_reads { name: "r1_neg" }
  }
}
rounds {
  key: "r2"
  value {
    input: "r1"
    method: SELEX
    target_concentrations { key: "target" value: 8 }
    positive_reads { name: "r2_pos" }
  }
}
"""


def test_names_follow_the_original_helpers():
  exp = experiment_lib.parse_experiment(_TEXT)
  assert experiment_lib.all_count_names(exp) == [
    'lib',
    'r1_neg',
    'r1_pos',
    'r2_pos',
  ]
  assert experiment_lib.non_input_count_names(exp) == [
    'r1_neg',
    'r1_pos',
    'r2_pos',
  ]
  assert experiment_lib.parent_counts(exp) == {
    'lib': '',
    'r1_neg': 'lib',
    'r1_pos': 'lib',
    'r2_pos': 'r1_pos',
  }
  assert experiment_lib.all_target_and_background_names(exp) == [
    'target',
    'serum',
  ]


def test_selection_signs_by_hand():
  signs = experiment_lib.selection_signs(experiment_lib.parse_experiment(_TEXT))
  assert signs.molecules == ('target', 'serum')
  assert signs.reads == ('r1_neg', 'r1_pos', 'r2_pos')
  # r1 negatives flip both signs; serum is absent from r2.
  np.testing.assert_array_equal(signs.matrix, [[-1, 1, 1], [1, -1, 0]])


def test_round_trip_through_text():
  exp = experiment_lib.parse_experiment(_TEXT)
  again = experiment_lib.parse_experiment(experiment_lib.to_text(exp))
  assert again == exp


@pytest.mark.parametrize(
  'text, message',
  [
    ('sequence_lenght: 40', 'not a valid Experiment proto'),
    (_TEXT.replace('sequence_length: 8', ''), 'sequence_length'),
    (_TEXT.replace('input: "r1"', 'input: "r9"'), "input 'r9'"),
    (
      _TEXT.replace('name: "r2_pos"', 'name: "r1_pos"'),
      "read name 'r1_pos' is used twice",
    ),
    (
      _TEXT.replace('key: "serum"', 'key: "target"'),
      "'target' is both target and background",
    ),
    (
      _TEXT.replace('value: 8', 'value: 0'),
      "round 'r2' (SELEX) needs at least one nonzero target",
    ),
  ],
)
def test_invalid_experiments_are_rejected_clearly(text, message):
  with pytest.raises(experiment_lib.ExperimentError, match=re.escape(message)):
    experiment_lib.parse_experiment(text, 'exp.pbtxt')


def test_load_names_the_missing_file(tmp_path):
  path = str(tmp_path / 'experiment.pbtxt')
  with pytest.raises(experiment_lib.ExperimentError, match='not found'):
    experiment_lib.load_experiment(path)
