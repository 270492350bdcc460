"""The Designer's settings, its flags and how it picks what to design by."""

import re

import pytest

from components.config import design as design_lib
from components.design import designer
from pipeline import run_options


def test_the_defaults_are_the_original_search():
  config = design_lib.DesignConfig()
  assert config.steps == {1: 2, 2: 2, 3: 2, 4: 0, 5: 5}
  assert (config.sampling_limit, config.max_trials, config.n_parents) == (
    1000,
    2000,
    10,
  )
  assert (config.min_distance, config.max_distance) == (1, 4)
  assert config.random_seed == 12152007


@pytest.mark.parametrize('per_seed', [1, 5, 11, 20, 33])
def test_other_totals_keep_five_steps_and_the_original_proportions(per_seed):
  steps = design_lib.steps_for(per_seed)
  assert sorted(steps) == [1, 2, 3, 4, 5]
  assert sum(steps.values()) == per_seed
  # The last step emits the most, and the fourth, like the original, none
  # unless there are many.
  assert steps[5] == max(steps.values())


def test_flags_reach_the_config_and_bad_values_name_the_flag():
  options = run_options.RunOptions(
    design_seed_sources='ml',
    design_seeds=7,
    design_gc_range='0.3,0.6',
    design_forbidden_motifs='aaaa, GGGG',
    design_seed_file='seeds.fa',
  )
  config = run_options.pipeline_config(options).design
  assert config.seed_sources == ('ml', 'file')
  assert config.num_seeds == 7
  assert config.gc_range == (0.3, 0.6)
  assert config.forbidden_motifs == ('AAAA', 'GGGG')
  for flags, message in [
    (dict(design_gc_range='0.3'), '--design_gc_range must be low,high'),
    (dict(design_gc_range='0.7,0.3'), '--design_gc_range must be low,high'),
    (dict(design_forbidden_motifs='AXA'), "'AXA' is not a motif"),
    (dict(design_seed_sources='best'), "unknown ['best']"),
    (dict(design_seed_sources='file'), '--design_seed_file is empty'),
    (dict(design_walker='greedy'), '--design_walker must be one of'),
    (dict(design_seeds=0), '--design_num_seeds must be an integer >= 1'),
    (dict(design_min_distance=3, design_max_distance=2), 'is below'),
    (dict(design_random_pool=10), '--design_random_pool (10) must be'),
  ]:
    with pytest.raises(run_options.InputError, match=re.escape(message)):
      run_options.pipeline_config(run_options.RunOptions(**flags))


def test_the_config_survives_the_component_parameter():
  config = design_lib.DesignConfig(
    gc_range=(0.2, 0.8), forbidden_motifs=('AAAA',)
  )
  assert design_lib.DesignConfig.from_json_dict(config.to_json_dict()) == config


def test_choose_affinity_prefers_the_first_molecule():
  order = ['target', 'serum']
  assert designer.choose_affinity('', ['serum', 'target'], order) == 'target'
  assert (
    designer.choose_affinity('', ['target_vs_serum'], order)
    == 'target_vs_serum'
  )
  assert (
    designer.choose_affinity('serum', ['serum', 'target'], order) == 'serum'
  )
  with pytest.raises(
    designer.DesignError, match="serves \\['affinity_target'\\]"
  ):
    designer.choose_affinity('serum', ['target'], order)
  with pytest.raises(designer.DesignError, match='no affinity_'):
    designer.choose_affinity('', [], order)
  assert designer.primary_molecule('target_and_serum') == 'target'
