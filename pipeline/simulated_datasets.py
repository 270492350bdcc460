"""Bundled datasets shipped as a simulation recipe, made on first use.

A FASTQ dataset of the demo is about 180 MB of reads: too large for the
repository, yet a pure function of the simulator and its seed. So the
repository ships a recipe (`data/<name>.json`: the scenario, its overrides,
paired or single-end reads, and the SHA-256 of every file's content), and
the runner simulates the dataset into `<save_base>/_datasets/<name>` the
first time a run names it. The files are checked against the recipe before
they are published, so a run never trains on reads that differ from the
ones the recipe describes (a changed simulator fails loudly, naming the
files). Gzip files are hashed after decompression: their compressed bytes
depend on the zlib build, their content does not.

Regenerate a recipe's hashes after an intended simulator change:
`.venv/bin/python -m pipeline.simulated_datasets --write demo_reads`.
"""

import argparse
import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Dict
from typing import List
from typing import Optional

# The folder under --save_base that holds the made datasets; the leading
# underscore keeps it apart from run directories (<save_base>/<run_name>).
DATASETS_FOLDER = '_datasets'
# Written last into a made dataset: the recipe's file hashes it was checked
# against and each file's size, so a reuse is a cheap check.
COMPLETE_MARKER = '.complete.json'
_CHUNK = 1 << 20


class SimulatedDatasetError(Exception):
  """A recipe is unusable, or the simulator's output does not match it."""


@dataclasses.dataclass(frozen=True)
class Recipe:
  """How to simulate a bundled dataset, and what it must contain.

  Attributes:
    name: the dataset's registered name.
    scenario: the simulator's scenario (simulation/scenarios.py).
    overrides: SimulationConfig fields replaced in the scenario.
    paired: write R1 and R2 (else R1 only).
    files: file name -> SHA-256 of its content (decompressed for .gz).
  """

  name: str
  scenario: str
  overrides: Dict[str, object]
  paired: bool
  files: Dict[str, str]

  @classmethod
  def load(cls, path: str) -> 'Recipe':
    """Reads a recipe file.

    Raises:
      SimulatedDatasetError: missing file, bad JSON or missing keys.
    """
    try:
      with open(path) as f:
        data = json.load(f)
      return cls(
        name=data['name'],
        scenario=data['scenario'],
        overrides=dict(data.get('overrides', {})),
        paired=bool(data['paired']),
        files=dict(data.get('files', {})),
      )
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise SimulatedDatasetError(
        f'{path}: not a usable dataset recipe ({type(e).__name__}: {e})'
      ) from e

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + '\n'


def content_sha256(path: str) -> str:
  """SHA-256 of a file's content; a .gz file's after decompression."""
  digest = hashlib.sha256()
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    for chunk in iter(lambda: f.read(_CHUNK), b''):
      digest.update(chunk)
  return digest.hexdigest()


def dataset_dir(save_base: str, name: str) -> str:
  """Where a recipe's dataset is made under a --save_base."""
  return os.path.join(save_base, DATASETS_FOLDER, name)


def simulate_into(recipe: Recipe, directory: str) -> None:
  """Simulates the recipe's FASTQ dataset into a new directory."""
  # Imported here: only a run that makes a dataset pays for the simulator.
  from simulation import fastq_dataset
  from simulation import scenarios
  from simulation import simulator
  from simulation import writer
  from simulation.config import SimulationConfigError

  try:
    result = simulator.simulate(
      scenarios.configure(recipe.scenario, **recipe.overrides)
    )
  except SimulationConfigError as e:
    raise SimulatedDatasetError(
      f'recipe {recipe.name!r}: the simulator refused it: {e}'
    ) from e
  fastq_dataset.write_fastq_dataset(result, directory, paired=recipe.paired)
  writer.write_truth_files(result, directory)


def hash_files(directory: str) -> Dict[str, str]:
  """Content SHA-256 of every file in a directory but the marker."""
  return {
    name: content_sha256(os.path.join(directory, name))
    for name in sorted(os.listdir(directory))
    if name != COMPLETE_MARKER and os.path.isfile(os.path.join(directory, name))
  }


def mismatches(expected: Dict[str, str], found: Dict[str, str]) -> List[str]:
  """What differs between a recipe's hashes and a directory's, in words."""
  problems = []
  for name in sorted(set(expected) | set(found)):
    if name not in found:
      problems.append(f'{name}: missing')
    elif name not in expected:
      problems.append(f'{name}: not in the recipe')
    elif expected[name] != found[name]:
      problems.append(
        f'{name}: content differs (sha256 {found[name][:12]}, recipe '
        f'{expected[name][:12]})'
      )
  return problems


def _is_complete(directory: str, recipe: Recipe) -> bool:
  """Whether a made dataset is whole and was checked against this recipe."""
  try:
    with open(os.path.join(directory, COMPLETE_MARKER)) as f:
      marker = json.load(f)
  except (OSError, ValueError):
    return False
  if marker.get('files') != recipe.files:
    return False
  sizes = marker.get('sizes', {})
  return set(sizes) == set(recipe.files) and all(
    _size(os.path.join(directory, name)) == size for name, size in sizes.items()
  )


def _size(path: str) -> Optional[int]:
  try:
    return os.path.getsize(path)
  except OSError:
    return None


def ensure(recipe_path: str, save_base: str, log=print) -> str:
  """Makes the recipe's dataset under save_base unless it is already there.

  The dataset is simulated into a hidden sibling, checked against the
  recipe's hashes and renamed into place, so an interrupted or mismatched
  simulation never leaves a directory that looks usable.

  Args:
    recipe_path: the recipe file.
    save_base: the runs' base directory.
    log: where progress lines go.

  Returns:
    The dataset directory.

  Raises:
    SimulatedDatasetError: the recipe is unusable, or the simulation does
      not reproduce it (the message names each differing file).
  """
  recipe = Recipe.load(recipe_path)
  target = dataset_dir(save_base, recipe.name)
  if _is_complete(target, recipe):
    return target
  parent = os.path.dirname(target)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=f'.{recipe.name}.', dir=parent)
  try:
    made = os.path.join(staging, recipe.name)
    log(
      f'Simulating the bundled dataset {recipe.name!r} (scenario '
      f'{recipe.scenario}, {"paired" if recipe.paired else "single-end"} '
      f'reads; about a minute, once per --save_base) into {target}'
    )
    start = time.monotonic()
    simulate_into(recipe, made)
    found = hash_files(made)
    problems = mismatches(recipe.files, found)
    if problems:
      raise SimulatedDatasetError(
        f'the simulator did not reproduce {recipe_path}: '
        + '; '.join(problems)
        + '. If the simulator changed on purpose, rewrite the recipe with '
        f'`python -m pipeline.simulated_datasets --write {recipe.name}`.'
      )
    sizes = {name: os.path.getsize(os.path.join(made, name)) for name in found}
    with open(os.path.join(made, COMPLETE_MARKER), 'w') as f:
      json.dump({'files': found, 'sizes': sizes}, f, indent=2, sort_keys=True)
    if _is_complete(target, recipe):
      # Another run made it meanwhile; keep theirs, which may be in use.
      return target
    if os.path.lexists(target):
      # A partial or outdated copy: replace it whole.
      shutil.rmtree(target)
    os.rename(made, target)
    log(
      f'  {len(found)} files, {sum(sizes.values()) / 1e6:.0f} MB, checked '
      f'against the recipe in {time.monotonic() - start:.0f} s'
    )
    return target
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def write_recipe_hashes(recipe_path: str, scratch_dir: str) -> Recipe:
  """Simulates a recipe's dataset and writes its hashes into the recipe."""
  recipe = Recipe.load(recipe_path)
  made = os.path.join(scratch_dir, recipe.name)
  simulate_into(recipe, made)
  updated = dataclasses.replace(recipe, files=hash_files(made))
  with open(recipe_path, 'w') as f:
    f.write(updated.to_json())
  return updated


def main(argv: Optional[List[str]] = None) -> int:
  """`--write NAME`: rewrites a registered recipe's hashes."""
  from pipeline import configs

  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--write',
    required=True,
    metavar='NAME',
    help='registered simulated dataset whose recipe hashes to rewrite',
  )
  args = parser.parse_args(argv)
  dataset = configs.DATASETS.get(args.write)
  if dataset is None or not dataset.recipe:
    names = sorted(n for n, d in configs.DATASETS.items() if d.recipe)
    parser.error(f'{args.write!r} is not a simulated dataset; known: {names}')
  with tempfile.TemporaryDirectory() as scratch:
    recipe = write_recipe_hashes(dataset.recipe, scratch)
  print(f'{dataset.recipe}: {len(recipe.files)} file hashes written')
  return 0


if __name__ == '__main__':
  sys.exit(main())
