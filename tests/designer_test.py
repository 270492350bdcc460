"""The Designer's executor: it designs only from a blessed model.

The blessed path runs the real executor on the demo's pushed model and
examples (the session fixture `demo_runs`), with a small search.
"""

import json
import os

import demo_runs as demo_runs_lib
import pandas as pd
import pytest
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from components.config import design as design_lib
from components.design import designer
from components.design import designer_component
from components.design import walkers
from pipeline import local_runner


def _artifact(cls, uri, **properties):
  artifact = cls()
  artifact.uri = uri
  for name, value in properties.items():
    artifact.set_int_custom_property(name, value)
  return artifact


def _properties(config):
  return {
    designer_component.DESIGN_CONFIG_KEY: json.dumps(config.to_json_dict()),
    designer_component.MOLECULE_ORDER_KEY: json.dumps(['target', 'serum']),
    designer_component.SEQUENCE_LENGTH_KEY: '40',
    designer_component.STRUCTURE_KEY: '',
  }


def _run(model_dir, examples, blessed, out_dir, config):
  inputs = {
    'model_0': [_artifact(standard_artifacts.Model, model_dir)],
    'blessing': [
      _artifact(
        standard_artifacts.ModelBlessing, '/nonexistent', blessed=blessed
      )
    ],
    'examples': [examples],
  }
  outputs = {'designs': [_artifact(designer_component.Designs, out_dir)]}
  designer_component.Executor().Do(inputs, outputs, _properties(config))


def test_an_unblessed_model_designs_nothing(tmp_path):
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'no-examples')
  examples.split_names = artifact_utils.encode_split_names(['train'])
  out = tmp_path / 'designs'
  # Nothing behind the model or the examples is read: the blessing decides
  # first.
  _run(
    str(tmp_path / 'no-model'), examples, 0, str(out), design_lib.DesignConfig()
  )
  assert os.listdir(out) == [designer.SKIPPED_FILE]
  assert 'not blessed' in (out / designer.SKIPPED_FILE).read_text()


@pytest.mark.e2e
def test_a_blessed_model_designs_from_every_seed_source(
  demo_runs, pushed_demo_model, tmp_path
):
  options = demo_runs['options']
  recorded = local_runner.latest_artifact(
    options, 'Examples', demo_runs_lib.EXAMPLE_GEN
  )
  examples = standard_artifacts.Examples()
  examples.uri = recorded.uri
  examples.split_names = recorded.properties['split_names'].string_value
  seed_file = tmp_path / 'mine.txt'
  seed_file.write_text('# my seeds\n' + 'ACGT' * 10 + '\n')
  config = design_lib.DesignConfig(
    num_seeds=5,
    random_pool=500,
    sampling_limit=100,
    max_trials=200,
    seed_file=str(seed_file),
    gc_range=(0.3, 0.7),
    forbidden_motifs=('AAAAA',),
  )
  out = tmp_path / 'designs'
  _run(pushed_demo_model, examples, 1, str(out), config)
  table = pd.read_csv(out / designer.DESIGNS_CSV)
  seeds = pd.read_csv(out / designer.SEEDS_CSV)
  assert sorted(seeds['seed_source'].value_counts().items()) == [
    ('experimental', 5),
    ('file', 1),
    ('ml', 5),
  ]
  # Experimental seeds are the strongest by evidence, best first.
  experimental = seeds[seeds['seed_source'] == 'experimental']['evidence']
  assert list(experimental) == sorted(experimental, reverse=True)
  assert len(table) == 11 * len(seeds)
  observed = {
    designer_component.sequence_of(e)
    for split in designer_component.split_examples(examples).values()
    for e in split
  }
  assert not set(table['sequence']) & observed
  assert table['sequence'].is_unique
  assert table['gc_fraction'].between(0.3, 0.7).all()
  assert not table['sequence'].str.contains('AAAAA').any()
  for row in table.itertuples():
    assert walkers.hamming(row.sequence, row.seed) == row.distance_to_seed
    assert 1 <= row.distance_to_parent <= 4
  # Sorted by the predicted affinity (mean over replicas; one replica, so
  # no spread).
  assert list(table['affinity_target_mean']) == sorted(
    table['affinity_target_mean'], reverse=True
  )
  assert (table['affinity_target_std'] == 0).all()
  # The walk improves on its seeds by the model's own account.
  assert (
    table['affinity_target_mean'].median()
    > seeds['affinity_target_mean'].median()
  )
  fasta = (out / designer.DESIGNS_FASTA).read_text().splitlines()
  assert fasta[1] == table['sequence'][0]
  microarray = pd.read_csv(out / designer.MICROARRAY_CSV)
  assert len(microarray) == 10 * len(table)
  with open(out / designer.SUMMARY_JSON) as f:
    summary = json.load(f)
  assert summary['affinity'] == 'target'
  assert summary['num_designs'] == len(table)
