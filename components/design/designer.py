"""Designing new aptamers with a blessed model: seeds, a walk, order files.

The original's search (MODEL_SPEC.md 6.2): take seeds (the experiment's
strongest sequences by their count evidence, the best of many random
sequences the model scored, or the user's), walk from each by point
mutations that the model predicts to bind better, and order what the walk
found. Every design is scored again with every replica, so each carries the
mean and standard deviation of its predicted affinity.

Outputs of `design` (in one directory):
  designs.csv          one row per design (see DESIGN_COLUMNS), best first
  seeds.csv            the seeds, their source and predicted affinity
  designs.fasta        the order file
  microarray.csv       the original's microarray layout (T-padded to 60 nt)
  design_summary.json  settings, counts, seeds vs designs, distances
"""

import collections
import dataclasses
import json
import os
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import numpy as np

from components.config import design as design_lib
from components.design import constraints as constraints_lib
from components.design import order_files
from components.design import scoring
from components.design import seeds as seeds_lib
from components.design import sequence_io
from components.design import walkers

DESIGNS_CSV = 'designs.csv'
SEEDS_CSV = 'seeds.csv'
DESIGNS_FASTA = 'designs.fasta'
MICROARRAY_CSV = 'microarray.csv'
SUMMARY_JSON = 'design_summary.json'
SKIPPED_FILE = 'SKIPPED'
AFFINITY_PREFIX = 'affinity_'
DESIGN_COLUMNS = (
  'sequence',
  'seed',
  'seed_source',
  'parent',
  'walker',
  'step',
  'distance_to_seed',
  'distance_to_parent',
  'gc_fraction',
)


class DesignError(ValueError):
  """The design settings do not fit the model or the data."""


@dataclasses.dataclass(frozen=True)
class Seed:
  """A walk's starting point.

  Attributes:
    sequence: the seed.
    source: 'experimental', 'ml' or 'file'.
    evidence: its count-derived log-enrichment (experimental seeds; NaN
      otherwise).
  """

  sequence: str
  source: str
  evidence: float = float('nan')


def primary_molecule(affinity: str) -> str:
  """The molecule whose evidence judges a served latent.

  A combined latent (`target_vs_serum`, `target_and_serum`) carries its
  first molecule's signs (schema/identifiability.py).
  """
  return affinity.split('_vs_')[0].split('_and_')[0]


def choose_affinity(
  requested: str, served: Sequence[str], molecule_order: Sequence[str]
) -> str:
  """The served latent to design by.

  Args:
    requested: `--design_affinity` ('' = choose).
    served: the model's latent names (without `affinity_`).
    molecule_order: the experiment's molecules, target first.

  Raises:
    DesignError: the requested latent is not served, or none is.
  """
  if requested:
    if requested not in served:
      raise DesignError(
        f'--design_affinity={requested!r}: the model serves '
        f'{[AFFINITY_PREFIX + s for s in served]}'
      )
    return requested
  for molecule in molecule_order:
    for name in served:
      if primary_molecule(name) == molecule:
        return name
  if not served:
    raise DesignError('the model serves no affinity_<molecule> output')
  return served[0]


def gc_fraction(sequences: Sequence[str]) -> np.ndarray:
  return np.array(
    [(s.count('G') + s.count('C')) / max(len(s), 1) for s in sequences]
  )


def _unique_seeds(groups: Sequence[List[Seed]]) -> List[Seed]:
  """Seeds in source order, each sequence once (its first source)."""
  seen, out = set(), []
  for group in groups:
    for seed in group:
      if seed.sequence not in seen:
        seen.add(seed.sequence)
        out.append(seed)
  return out


def choose_seeds(
  config: design_lib.DesignConfig,
  score_fn: Callable[[Sequence[str]], np.ndarray],
  sequence_length: int,
  training_sequences: Sequence[str],
  training_evidence: Optional[np.ndarray],
  log: Callable[[str], None] = print,
) -> List[Seed]:
  """Every seed of the configured sources, each sequence once.

  Raises:
    DesignError: experimental seeds without binding evidence.
    sequence_io.SequenceFileError: a bad seed file.
  """
  groups = []
  if design_lib.EXPERIMENTAL_SEEDS in config.seed_sources:
    if training_evidence is None:
      raise DesignError(
        "experimental seeds need the model's count-derived binding evidence "
        'for the designed molecule; the experiment gives none (drop '
        "'experimental' from --design_seed_sources)"
      )
    chosen = seeds_lib.top_by_evidence(
      list(training_sequences), training_evidence, config.num_seeds
    )
    evidence = dict(zip(training_sequences, training_evidence))
    groups.append(
      [
        Seed(s, design_lib.EXPERIMENTAL_SEEDS, float(evidence[s]))
        for s in chosen
      ]
    )
  if design_lib.ML_SEEDS in config.seed_sources:
    log(
      f'  ML seeds: scoring {config.random_pool:,} random '
      f'{sequence_length}-mers, keeping the best {config.num_seeds}'
    )
    chosen, _ = seeds_lib.ml_seeds(
      score_fn,
      sequence_length,
      config.random_pool,
      config.num_seeds,
      random_seed=config.random_seed,
    )
    groups.append([Seed(s, design_lib.ML_SEEDS) for s in chosen])
  if design_lib.FILE_SEEDS in config.seed_sources:
    chosen = sequence_io.read_sequences(config.seed_file, sequence_length)
    groups.append([Seed(s, design_lib.FILE_SEEDS) for s in chosen])
  return _unique_seeds(groups)


def make_walker(
  config: design_lib.DesignConfig,
  score_fn: Callable[[Sequence[str]], np.ndarray],
  constraints: constraints_lib.DesignConstraints,
):
  """The configured walker."""
  common = dict(
    score_fn=score_fn,
    constraints=constraints,
    min_distance=config.min_distance,
    max_distance=config.max_distance,
    steps=config.steps,
    random_seed=config.random_seed,
  )
  if config.walker == design_lib.GENETIC_WALKER:
    return walkers.GeneticWalker(
      children_per_generation=config.sampling_limit,
      max_trials=config.max_trials,
      **common,
    )
  return walkers.SamplingWalker(
    sampling_limit=config.sampling_limit,
    max_trials=config.max_trials,
    n_parents=config.n_parents,
    **common,
  )


def make_constraints(
  config: design_lib.DesignConfig,
  sequence_length: int,
  observed: Sequence[str],
) -> constraints_lib.DesignConstraints:
  return constraints_lib.DesignConstraints(
    sequence_length=sequence_length,
    gc_range=config.gc_range,
    forbidden_motifs=config.forbidden_motifs,
    avoid=frozenset(observed),
  )


def _affinity_columns(scores: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  return {
    k: v
    for k, v in scores.items()
    if k.startswith(AFFINITY_PREFIX)
    and (k.endswith('_mean') or k.endswith('_std'))
  }


def _describe(values: np.ndarray) -> Dict[str, float]:
  values = np.asarray(values, np.float64)
  if not len(values):
    return {'count': 0}
  return {
    'count': int(len(values)),
    'mean': float(values.mean()),
    'median': float(np.median(values)),
    'max': float(values.max()),
  }


def design(
  config: design_lib.DesignConfig,
  scorer: scoring.SequenceScorer,
  affinity: str,
  sequence_length: int,
  observed: Sequence[str],
  training_sequences: Sequence[str],
  training_evidence: Optional[np.ndarray],
  output_dir: str,
  log: Callable[[str], None] = print,
) -> Dict:
  """Chooses seeds, walks, scores with every replica and writes the outputs.

  Args:
    config: the Designer's settings.
    scorer: every replica of the blessed model.
    affinity: the served latent to walk by (`choose_affinity`).
    sequence_length: the variable region's length.
    observed: every sequence of the dataset (never designed again).
    training_sequences: the training split's sequences (experimental
      seeds come from them).
    training_evidence: their log-enrichment for the affinity's primary
      molecule (None: no evidence).
    output_dir: where the files go (created).
    log: progress lines.

  Returns:
    The summary written to design_summary.json.
  """
  column = f'{AFFINITY_PREFIX}{affinity}_mean'

  def score_fn(sequences: Sequence[str]) -> np.ndarray:
    return np.asarray(scorer.score(list(sequences))[column], np.float64)

  seeds = choose_seeds(
    config,
    score_fn,
    sequence_length,
    training_sequences,
    training_evidence,
    log,
  )
  by_source = collections.Counter(s.source for s in seeds)
  log(
    f'  {len(seeds)} seeds ('
    + ', '.join(f'{n} {source}' for source, n in sorted(by_source.items()))
    + f'); {config.walker} walker, {config.per_seed} designs per seed'
  )
  constraints = make_constraints(config, sequence_length, observed)
  walker = make_walker(config, score_fn, constraints)
  found = walker.walk([s.sequence for s in seeds])
  source_of = {s.sequence: s.source for s in seeds}
  designed = [d.sequence for d in found]
  design_scores = scorer.score(designed) if designed else {}
  seed_scores = scorer.score([s.sequence for s in seeds])
  order = np.argsort(
    -np.asarray(design_scores.get(column, np.zeros(0))), kind='stable'
  )
  rows = {
    'sequence': [found[i].sequence for i in order],
    'seed': [found[i].seed for i in order],
    'seed_source': [source_of[found[i].seed] for i in order],
    'parent': [found[i].parent for i in order],
    'walker': [found[i].walker for i in order],
    'step': [found[i].step for i in order],
    'distance_to_seed': [found[i].distance_to_seed for i in order],
    'distance_to_parent': [found[i].distance_to_parent for i in order],
    'gc_fraction': gc_fraction([found[i].sequence for i in order]),
  }
  for name, values in _affinity_columns(design_scores).items():
    rows[name] = np.asarray(values)[order]
  seed_rows = {
    'sequence': [s.sequence for s in seeds],
    'seed_source': [s.source for s in seeds],
    'evidence': [s.evidence for s in seeds],
    **_affinity_columns(seed_scores),
  }
  os.makedirs(output_dir, exist_ok=True)
  sequence_io.write_table(os.path.join(output_dir, DESIGNS_CSV), rows)
  sequence_io.write_table(os.path.join(output_dir, SEEDS_CSV), seed_rows)
  ordered = [found[i] for i in order]
  order_files.write_fasta(os.path.join(output_dir, DESIGNS_FASTA), ordered)
  order_files.write_microarray_csv(
    os.path.join(output_dir, MICROARRAY_CSV), ordered
  )
  distances = collections.Counter(int(d) for d in rows['distance_to_seed'])
  summary = {
    'affinity': affinity,
    'config': config.to_json_dict(),
    'num_seeds': len(seeds),
    'seeds_by_source': dict(sorted(by_source.items())),
    'num_designs': len(found),
    'num_observed_avoided': len(set(observed)),
    'predicted_seeds': _describe(seed_scores[column]),
    'predicted_designs': _describe(design_scores.get(column, [])),
    'predicted_by_source': {
      source: {
        'seeds': _describe(
          np.asarray(seed_scores[column])[[s.source == source for s in seeds]]
        ),
        'designs': _describe(
          np.asarray(rows[column])[
            [src == source for src in rows['seed_source']]
          ]
          if designed
          else []
        ),
      }
      for source in sorted(by_source)
    },
    'distance_to_seed_histogram': {
      str(k): v for k, v in sorted(distances.items())
    },
  }
  with open(os.path.join(output_dir, SUMMARY_JSON), 'w') as f:
    json.dump(summary, f, indent=2, sort_keys=True)
  return summary


def summary_lines(summary: Dict) -> List[str]:
  """What the console prints of a design summary."""
  seeds = summary['predicted_seeds']
  designs = summary['predicted_designs']
  lines = [
    f'  {summary["num_designs"]} designs from {summary["num_seeds"]} seeds '
    f'by affinity_{summary["affinity"]}',
  ]
  if designs.get('count'):
    lines.append(
      f'  predicted affinity: seeds median {seeds["median"]:.3f}, designs '
      f'median {designs["median"]:.3f} (best {designs["max"]:.3f})'
    )
  histogram = ', '.join(
    f'{k}: {v}'
    for k, v in sorted(
      summary['distance_to_seed_histogram'].items(), key=lambda kv: int(kv[0])
    )
  )
  lines.append(f'  Hamming distance to seed: {histogram}')
  return lines


def write_skipped(output_dir: str, reason: str) -> None:
  """Marks a Designer run that designed nothing, and why."""
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, SKIPPED_FILE), 'w') as f:
    f.write(reason + '\n')
