"""Judges a run's designs against a simulated dataset's truth.

Three walkers from the same seeds, each judged by the simulator's true
affinity along the designed latent (`simulation/oracle.py`):

  model   the Designer's designs (the blessed model's walk)
  random  for every design, 10 random mutants of its seed at the same
          Hamming distance (the paper's "random perturbation")
  oracle  the same walker, scoring with the true affinity instead of the
          model: the best a perfect model could do with this search
  landscape_oracle
          the same walker, scoring with the truth's deterministic part
          (the landscape without its per-sequence noise term). The noise is
          drawn independently for every sequence, so no model can learn
          it, but the oracle's walk picks the best of 1,000 candidates by
          it at every step: much of the oracle's lead is that noise. This
          row shows what knowing everything learnable would give

For each: the fraction of designs whose true affinity (noise included)
beats their seed's, and the fraction in the library's true top 0.1 %. The
headline is the oracle efficiency on the top-0.1 % rate, (model - random) /
(oracle - random): 0 is no better than random perturbation, 1 is as good as
the truth; also against the landscape oracle, and the ratio to random,
which the paper reports (11x).
"""

import dataclasses
import json
import math
import os
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from components.config import design as design_lib
from components.design import designer
from components.design import walkers
from simulation import fastq_dataset as sim_fastq
from simulation import oracle as oracle_lib

TOP_FRACTION = 0.001
# Random controls per design: the random walker's top-0.1 % rate is a few
# hits in a few thousand designs, so one control each leaves the ratio to
# random to chance (2.3x or 3.5x on the same designs); ten tighten it ~3x.
RANDOM_CONTROLS_PER_DESIGN = 10
WALKERS = ('model', 'random', 'oracle', 'landscape_oracle')


class DesignTruthError(ValueError):
  """The designs or the dataset cannot be judged."""


@dataclasses.dataclass(frozen=True)
class WalkerRates:
  """How one walker's designs fare against the truth.

  Attributes:
    walker: 'model', 'random' or 'oracle'.
    num_designs: designs judged.
    improved: fraction whose true affinity beats their seed's.
    top: fraction in the library's true top 0.1 %.
    median_gain: median true affinity gain over the seed.
  """

  walker: str
  num_designs: int
  improved: float
  top: float
  median_gain: float


@dataclasses.dataclass(frozen=True)
class DesignTruth:
  """The three walkers' rates and what they say together."""

  affinity: str
  num_seeds: int
  top_threshold: float
  rates: Dict[str, WalkerRates]

  def efficiency(self, oracle: str = 'oracle') -> float:
    """(model - random) / (oracle - random) on the top-0.1 % rate."""
    model, random = self.rates['model'].top, self.rates['random'].top
    best = self.rates[oracle].top
    if best <= random:
      return float('nan')
    return (model - random) / (best - random)

  @property
  def oracle_efficiency(self) -> float:
    return self.efficiency('oracle')

  @property
  def landscape_efficiency(self) -> float:
    return self.efficiency('landscape_oracle')

  @property
  def ratio_to_random(self) -> float:
    """model / random top-0.1 % rate (the paper's 11x); inf if random 0."""
    model, random = self.rates['model'].top, self.rates['random'].top
    if random == 0:
      return float('inf') if model > 0 else float('nan')
    return model / random

  def as_dict(self) -> Dict:
    return {
      'affinity': self.affinity,
      'num_seeds': self.num_seeds,
      'top_fraction': TOP_FRACTION,
      'top_threshold': self.top_threshold,
      'oracle_efficiency': _json_number(self.oracle_efficiency),
      'landscape_efficiency': _json_number(self.landscape_efficiency),
      'ratio_to_random': _json_number(self.ratio_to_random),
      'rates': {w: dataclasses.asdict(r) for w, r in self.rates.items()},
    }


def _json_number(value: float) -> Optional[float]:
  return None if math.isnan(value) or math.isinf(value) else float(value)


def _rates(
  walker: str,
  sequences: Sequence[str],
  seed_of: Sequence[str],
  truth: oracle_lib.TruthOracle,
  affinity: str,
  threshold: float,
) -> WalkerRates:
  if not len(sequences):
    return WalkerRates(walker, 0, float('nan'), float('nan'), float('nan'))
  strength = truth.strength(sequences, affinity)
  gain = strength - truth.strength(seed_of, affinity)
  return WalkerRates(
    walker=walker,
    num_designs=len(sequences),
    improved=float(np.mean(gain > 0)),
    top=float(np.mean(strength >= threshold)),
    median_gain=float(np.median(gain)),
  )


def observed_sequences(dataset_dir: str) -> List[str]:
  """Every sequence of a dataset's examples (or, for reads, with a read).

  A simulated FASTQ dataset has no examples; its true counts name every
  sequence that was sequenced, which is what the Designer avoided (less
  the few that read errors made).
  """
  files = sorted(tf.io.gfile.glob(os.path.join(dataset_dir, '*.tfrecord*')))
  true_counts = os.path.join(dataset_dir, sim_fastq.TRUE_COUNTS_FILENAME)
  if not files and tf.io.gfile.exists(true_counts):
    table = pd.read_csv(true_counts, usecols=[sim_fastq.SEQUENCE_COLUMN])
    return list(table[sim_fastq.SEQUENCE_COLUMN])
  out = []
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
    example = tf.train.Example.FromString(record.numpy())
    out.append(
      example.features.feature['sequence'].bytes_list.value[0].decode()
    )
  return out


def judge(designs_dir: str, dataset_dir: str) -> DesignTruth:
  """Judges the Designer output in `designs_dir` against the truth.

  Raises:
    DesignTruthError: no designs, or a dataset without truth.
  """
  summary_path = os.path.join(designs_dir, designer.SUMMARY_JSON)
  if not os.path.exists(summary_path):
    raise DesignTruthError(f'{summary_path} not found: no designs to judge')
  with open(summary_path) as f:
    summary = json.load(f)
  try:
    truth = oracle_lib.TruthOracle.from_dataset(dataset_dir)
  except oracle_lib.OracleError as e:
    raise DesignTruthError(str(e)) from e
  affinity = summary['affinity']
  config = design_lib.DesignConfig.from_json_dict(summary['config'])
  table = pd.read_csv(os.path.join(designs_dir, designer.DESIGNS_CSV))
  seeds = pd.read_csv(os.path.join(designs_dir, designer.SEEDS_CSV))
  threshold = float(
    np.quantile(truth.library_strength(affinity), 1.0 - TOP_FRACTION)
  )
  length = len(seeds['sequence'].iloc[0])
  constraints = designer.make_constraints(
    config, length, observed_sequences(dataset_dir)
  )
  designs = [
    walkers.Design(
      sequence=r.sequence,
      seed=r.seed,
      parent=r.parent,
      walker=r.walker,
      step=int(r.step),
      distance_to_seed=int(r.distance_to_seed),
      distance_to_parent=int(r.distance_to_parent),
      score=float('nan'),
    )
    for r in table.itertuples()
  ]
  controls = walkers.matched_random_mutants(
    designs,
    constraints,
    random_seed=config.random_seed + 1,
    per_design=RANDOM_CONTROLS_PER_DESIGN,
  )

  def true_score(sequences):
    return truth.strength(list(sequences), affinity)

  def learnable_score(sequences):
    return truth.strength(list(sequences), affinity, noise=False)

  oracle_designs = designer.make_walker(config, true_score, constraints).walk(
    list(seeds['sequence'])
  )
  landscape_designs = designer.make_walker(
    config, learnable_score, constraints
  ).walk(list(seeds['sequence']))
  walked = {
    'model': designs,
    'random': controls,
    'oracle': oracle_designs,
    'landscape_oracle': landscape_designs,
  }
  rates = {
    walker: _rates(
      walker,
      [d.sequence for d in found],
      [d.seed for d in found],
      truth,
      affinity,
      threshold,
    )
    for walker, found in walked.items()
  }
  return DesignTruth(affinity, len(seeds), threshold, rates)


def _efficiency(value: float) -> str:
  return 'n/a' if math.isnan(value) else f'{value:.2f}'


def format_lines(result: DesignTruth) -> List[str]:
  """The console's lines for a judgement."""
  lines = [
    f'  designs by affinity_{result.affinity} from {result.num_seeds} seeds, '
    f'judged by the true affinity (top 0.1 %: >= {result.top_threshold:.3f})'
  ]
  for walker in WALKERS:
    r = result.rates[walker]
    lines.append(
      f'  {walker:>16}: {r.num_designs:5d} designs, {r.improved:6.1%} beat '
      f'their seed, {r.top:6.2%} in the true top 0.1 % '
      f'(median gain {r.median_gain:+.3f})'
    )
  ratio = result.ratio_to_random
  lines.append(
    '  oracle efficiency (model - random) / (oracle - random): '
    + _efficiency(result.oracle_efficiency)
    + ' (landscape oracle: '
    + _efficiency(result.landscape_efficiency)
    + '); model / random: '
    + (
      'n/a'
      if math.isnan(ratio)
      else ('inf' if math.isinf(ratio) else f'{ratio:.1f}x')
    )
    + ' (the paper: 11x)'
  )
  return lines
