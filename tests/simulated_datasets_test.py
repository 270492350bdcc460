"""Datasets made from a simulation recipe: made once, checked, never half."""

import gzip
import json
import os

import pytest

from pipeline import configs
from pipeline import local_runner
from pipeline import run_options
from pipeline import simulated_datasets

# A small FASTQ demo: a few seconds to simulate.
_SMALL = {'num_families': 60, 'depth': 1500}


def _recipe(tmp_path, name='tiny', **fields) -> str:
  """A recipe file with the tiny dataset's true hashes, made in tmp_path."""
  path = str(tmp_path / f'{name}.json')
  recipe = simulated_datasets.Recipe(
    name=name,
    scenario=fields.get('scenario', 'demo'),
    overrides=fields.get('overrides', _SMALL),
    paired=fields.get('paired', True),
    files={},
  )
  with open(path, 'w') as f:
    f.write(recipe.to_json())
  scratch = tmp_path / 'scratch'
  scratch.mkdir(exist_ok=True)
  simulated_datasets.write_recipe_hashes(path, str(scratch))
  return path


def _edit_recipe(path, **changes):
  with open(path) as f:
    data = json.load(f)
  data.update(changes)
  with open(path, 'w') as f:
    json.dump(data, f)


def _listing(directory):
  return sorted(os.listdir(directory))


@pytest.fixture(scope='module')
def tiny_recipe(tmp_path_factory):
  return _recipe(tmp_path_factory.mktemp('recipe'))


def test_gzip_content_hash_ignores_the_gzip_header(tmp_path):
  # The same content compressed with another mtime (or zlib) hashes alike.
  for mtime, name in ((0, 'a.gz'), (12345, 'b.gz')):
    with gzip.GzipFile(tmp_path / name, 'wb', mtime=mtime) as f:
      f.write(b'@r1\nACGT\n+\nIIII\n')
  (tmp_path / 'plain').write_bytes(b'@r1\nACGT\n+\nIIII\n')
  a, b, plain = (
    simulated_datasets.content_sha256(str(tmp_path / n))
    for n in ('a.gz', 'b.gz', 'plain')
  )
  assert (tmp_path / 'a.gz').read_bytes() != (tmp_path / 'b.gz').read_bytes()
  assert a == b == plain


def test_a_recipe_is_made_checked_and_then_reused(tiny_recipe, tmp_path):
  lines = []
  made = simulated_datasets.ensure(tiny_recipe, str(tmp_path), lines.append)
  assert made == simulated_datasets.dataset_dir(str(tmp_path), 'tiny')
  recipe = simulated_datasets.Recipe.load(tiny_recipe)
  assert simulated_datasets.hash_files(made) == recipe.files
  assert 'library_R1.fastq.gz' in recipe.files
  assert 'library_R2.fastq.gz' in recipe.files
  assert 'ground_truth.csv.gz' in recipe.files
  assert any('Simulating the bundled dataset' in line for line in lines)
  # The staging directory is gone; only the dataset is left.
  assert _listing(os.path.dirname(made)) == ['tiny']

  stamp = os.path.getmtime(os.path.join(made, 'library_R1.fastq.gz'))
  again = []
  assert simulated_datasets.ensure(tiny_recipe, str(tmp_path), again.append)
  assert again == []  # Reused: nothing simulated.
  assert os.path.getmtime(os.path.join(made, 'library_R1.fastq.gz')) == stamp


def test_a_damaged_dataset_is_made_again(tiny_recipe, tmp_path):
  made = simulated_datasets.ensure(tiny_recipe, str(tmp_path), lambda _: 0)
  recipe = simulated_datasets.Recipe.load(tiny_recipe)
  with open(os.path.join(made, 'library_R1.fastq.gz'), 'r+b') as f:
    f.truncate(100)
  lines = []
  simulated_datasets.ensure(tiny_recipe, str(tmp_path), lines.append)
  assert any('Simulating' in line for line in lines)
  assert simulated_datasets.hash_files(made) == recipe.files


def test_a_simulation_that_differs_from_its_recipe_publishes_nothing(
  tiny_recipe, tmp_path
):
  recipe = simulated_datasets.Recipe.load(tiny_recipe)
  wrong = dict(recipe.files, **{'library_R2.fastq.gz': '0' * 64})
  del wrong['truth_model.json']
  wrong['missing.txt'] = '1' * 64
  path = str(tmp_path / 'wrong.json')
  with open(tiny_recipe) as f:
    data = json.load(f)
  with open(path, 'w') as f:
    json.dump(dict(data, files=wrong), f)
  with pytest.raises(simulated_datasets.SimulatedDatasetError) as raised:
    simulated_datasets.ensure(path, str(tmp_path / 'base'), lambda _: 0)
  message = str(raised.value)
  assert 'library_R2.fastq.gz: content differs' in message
  assert 'truth_model.json: not in the recipe' in message
  assert 'missing.txt: missing' in message
  assert 'library_R1.fastq.gz' not in message
  assert '--write tiny' in message
  # Neither the dataset nor its staging copy is left behind.
  assert _listing(tmp_path / 'base' / simulated_datasets.DATASETS_FOLDER) == []


def test_unusable_recipes_are_refused_with_their_path(tmp_path):
  broken = tmp_path / 'broken.json'
  broken.write_text('{"name": "x"')
  with pytest.raises(simulated_datasets.SimulatedDatasetError, match='broken'):
    simulated_datasets.Recipe.load(str(broken))
  missing_key = tmp_path / 'nokey.json'
  missing_key.write_text('{"name": "x", "paired": true}')
  with pytest.raises(simulated_datasets.SimulatedDatasetError, match='nokey'):
    simulated_datasets.Recipe.load(str(missing_key))
  bad_field = tmp_path / 'field.json'
  bad_field.write_text(
    json.dumps(
      {
        'name': 'field',
        'scenario': 'demo',
        'overrides': {'no_such_field': 1},
        'paired': True,
      }
    )
  )
  with pytest.raises(
    simulated_datasets.SimulatedDatasetError, match='no_such_field'
  ):
    simulated_datasets.ensure(str(bad_field), str(tmp_path / 'b'), print)


def test_a_recipe_dataset_lives_under_save_base(tmp_path):
  options = run_options.RunOptions(
    save_base=str(tmp_path), dataset='demo_reads'
  )
  assert run_options.resolve_input_dir(options) == os.path.join(
    str(tmp_path), simulated_datasets.DATASETS_FOLDER, 'demo_reads'
  )
  assert run_options.affinity_target_map(options) == (
    configs.DATASETS['demo'].affinity_target_map
  )
  # --input_dir wins, and nothing is simulated for it.
  given = run_options.RunOptions(
    save_base=str(tmp_path), dataset='demo_reads', input_dir='/data/x'
  )
  assert run_options.resolve_input_dir(given) == '/data/x'
  local_runner.make_simulated_dataset(given)
  assert not (tmp_path / simulated_datasets.DATASETS_FOLDER).exists()


def test_every_registered_recipe_is_named_as_its_dataset():
  # The runner looks for a made dataset under its registered name, and the
  # recipe makes it under the recipe's name: they must agree.
  recipes = {n: d.recipe for n, d in configs.DATASETS.items() if d.recipe}
  assert recipes
  for name, path in recipes.items():
    assert simulated_datasets.Recipe.load(path).name == name
