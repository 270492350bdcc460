"""Binding evidence from a sequence's own counts: hits, stringency, enrichment.

No ground truth is needed, so this works on real selections: per example and
per molecule that was a TARGET of a sequenced selection round, Transform
computes from the raw counts and each read column's depth (its total reads,
a `tft.sum` over the analysed split)

  * a hit per round (MODEL_SPEC 6.2 'Hit definition'): the depth-normalised
    positive/negative ratio pos/D_pos > POS_NEG_RATIO_CUTOFF * neg/D_neg,
    with at least MIN_POSITIVE_READS positive reads. The original's other
    condition (a tolerated fraction of the sequence's beads collected) needs
    bead counts the Experiment does not record; the read floor stands in
    for it. A round without a sequenced negative pool is a hit where the
    log-enrichment of the positive pool over its input pool exceeds
    LOG_ENRICHMENT_CUTOFF, with the same read floor;
  * a stringency bucket: the number of consecutive stringency levels, from
    the least stringent up, at which the sequence is a hit (0: not a hit at
    the least stringent level);
  * a log-enrichment score: the mean over the molecule's rounds of
    log((pos + PSEUDOCOUNT) / D_pos) - log((ref + PSEUDOCOUNT) / D_ref),
    where ref is the input pool, or the negative pool where the input was
    not sequenced.

Only ratios of depths enter, so depths from the analysed (training) split
serve every split: ExampleGen hashes whole clusters into splits, which
keeps each column's share of the reads about the same in each.

The evaluation ranks a model's predicted affinity against them
(`components.evaluation.affinity_metrics`).
"""

import dataclasses
import json
import math
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Sequence
from typing import Tuple

import tensorflow as tf
import tensorflow_transform as tft

from schema import experiment as experiment_lib

# The original's hit cutoff on (pos / D_pos) / (neg / D_neg).
POS_NEG_RATIO_CUTOFF = 0.5
# Fewer positive reads are not told apart from a single mis-sorted bead or a
# sequencing error (stands in for the bead-fraction condition, see above).
MIN_POSITIVE_READS = 3
# Without a negative pool: at least 2-fold enriched over the input pool.
LOG_ENRICHMENT_CUTOFF = math.log(2.0)
# Keeps log-enrichment finite for zero counts (half a read).
PSEUDOCOUNT = 0.5

_SELECTION_METHODS = ('PARTICLE_DISPLAY', 'SELEX')
_PREFIX = 'evidence_'


def hit_feature(molecule: str, round_name: str) -> str:
  """Transformed feature: 1 where the sequence is a hit in the round."""
  return f'{_PREFIX}{molecule}_hit_{round_name}'


def bucket_feature(molecule: str) -> str:
  """Transformed feature: the sequence's stringency bucket (int64)."""
  return f'{_PREFIX}{molecule}_bucket'


def enrichment_feature(molecule: str) -> str:
  """Transformed feature: the sequence's mean log-enrichment (float32)."""
  return f'{_PREFIX}{molecule}_enrichment'


@dataclasses.dataclass(frozen=True)
class EvidenceRound:
  """One selection round a molecule was a target of.

  Attributes:
    name: the round's name in the experiment.
    target_concentration: the molecule's concentration (lower = more
      stringent).
    positive: positive read name.
    negative: negative read name ('' = not sequenced).
    input: read name of the nearest ancestor round with sequenced positive
      reads ('' = none).
  """

  name: str
  target_concentration: float
  positive: str
  negative: str = ''
  input: str = ''


@dataclasses.dataclass(frozen=True)
class EvidenceSpec:
  """A molecule's selection rounds, from least to most stringent.

  Rounds at one target concentration form one stringency level; a sequence
  is a hit at a level when it is a hit in any round of it (the rounds of a
  level differ in background, e.g. serum, not in target stringency).
  """

  molecule: str
  rounds: Tuple[EvidenceRound, ...]

  def __post_init__(self):
    object.__setattr__(self, 'rounds', tuple(self.rounds))
    if not self.rounds:
      raise ValueError(f'evidence for {self.molecule!r} needs a round')
    concentrations = [r.target_concentration for r in self.rounds]
    if concentrations != sorted(concentrations, reverse=True):
      raise ValueError(
        f'evidence rounds of {self.molecule!r} must go from least to most '
        f'stringent (decreasing concentration), got {concentrations}'
      )
    for r in self.rounds:
      if not (r.negative or r.input):
        raise ValueError(
          f'round {r.name!r} has neither a negative nor an input pool'
        )

  @property
  def levels(self) -> Tuple[Tuple[int, ...], ...]:
    """Round indices per stringency level, least stringent first."""
    levels, last = [], None
    for i, r in enumerate(self.rounds):
      if r.target_concentration != last:
        levels.append([])
        last = r.target_concentration
      levels[-1].append(i)
    return tuple(tuple(level) for level in levels)

  @property
  def num_levels(self) -> int:
    return len(self.levels)

  @property
  def reads(self) -> List[str]:
    """Every read column the evidence is computed from, sorted."""
    names = set()
    for r in self.rounds:
      names.update(n for n in (r.positive, r.negative, r.input) if n)
    return sorted(names)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> 'EvidenceSpec':
    return cls(
      molecule=values['molecule'],
      rounds=tuple(EvidenceRound(**r) for r in values['rounds']),
    )

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'EvidenceSpec':
    return cls.from_dict(json.loads(text))


def _input_read(experiment, rnd) -> str:
  """Positive read of the nearest ancestor that has one ('' if none)."""
  seen = set()
  name = rnd.input
  while name and name not in seen and name in experiment.rounds:
    seen.add(name)
    ancestor = experiment.rounds[name]
    if ancestor.positive_reads.name:
      return ancestor.positive_reads.name
    name = ancestor.input
  return ''


def evidence_specs(experiment) -> List[EvidenceSpec]:
  """One spec per molecule targeted in a sequenced selection round, sorted.

  A round counts when its method is PARTICLE_DISPLAY or SELEX, its positive
  pool was sequenced, and it has a pool to compare with (a sequenced
  negative pool or input); molecules that are only ever a background (e.g.
  serum) get none. Rounds are ordered by decreasing target concentration,
  then by fewer background molecules (a competitor adds stringency), then
  by name.
  """
  rounds: Dict[str, List[Tuple[tuple, EvidenceRound]]] = {}
  for name, rnd in sorted(experiment.rounds.items()):
    method = experiment_lib.Round.Method.Name(rnd.method)
    if method not in _SELECTION_METHODS or not rnd.positive_reads.name:
      continue
    negative = rnd.negative_reads.name if rnd.HasField('negative_reads') else ''
    parent = _input_read(experiment, rnd)
    if not (negative or parent):
      continue
    backgrounds = sum(1 for c in rnd.background_concentrations.values() if c)
    for molecule, conc in rnd.target_concentrations.items():
      if not conc:
        continue
      entry = EvidenceRound(
        name=name,
        target_concentration=float(conc),
        positive=rnd.positive_reads.name,
        negative=negative,
        input=parent,
      )
      rounds.setdefault(molecule, []).append(
        ((-conc, backgrounds, name), entry)
      )
  return [
    EvidenceSpec(molecule, tuple(e for _, e in sorted(entries)))
    for molecule, entries in sorted(rounds.items())
  ]


def column_depths(
  inputs: Mapping[str, tf.Tensor], specs: Sequence[EvidenceSpec]
) -> Dict[str, tf.Tensor]:
  """Each evidence read's total reads (tft.sum analyzers), float32 scalars."""
  names = sorted({n for spec in specs for n in spec.reads})
  missing = [n for n in names if n not in inputs]
  if missing:
    raise ValueError(
      f'binding evidence needs the read columns {missing}, which the '
      f'examples lack (features: {sorted(inputs)})'
    )
  return {
    n: tf.cast(
      tft.sum(tf.reshape(tf.cast(inputs[n], tf.int64), [-1])), tf.float32
    )
    for n in names
  }


def _log_fraction(counts: tf.Tensor, depth: tf.Tensor) -> tf.Tensor:
  # An all-zero column (depth 0) would give log(0.5 / 0): count it as one read.
  return tf.math.log((counts + PSEUDOCOUNT) / tf.maximum(depth, 1.0))


def evidence_from_counts(
  counts: Mapping[str, tf.Tensor],
  depths: Mapping[str, tf.Tensor],
  spec: EvidenceSpec,
) -> Dict[str, tf.Tensor]:
  """Per-round hits, the stringency bucket and the log-enrichment.

  Args:
    counts: read name -> [batch] counts (any numeric dtype).
    depths: read name -> its column's total reads (scalar).
    spec: the molecule's evidence rounds.

  Returns:
    `hit_feature` (int64 0/1) per round, `bucket_feature` (int64) and
    `enrichment_feature` (float32), each [batch].
  """

  def column(name):
    return tf.cast(tf.reshape(counts[name], [-1]), tf.float32)

  def depth(name):
    return tf.cast(depths[name], tf.float32)

  out, hits, scores = {}, [], []
  for r in spec.rounds:
    pos = column(r.positive)
    enough = pos >= MIN_POSITIVE_READS
    over_input = None
    if r.input:
      over_input = _log_fraction(pos, depth(r.positive)) - _log_fraction(
        column(r.input), depth(r.input)
      )
    if r.negative:
      neg = column(r.negative)
      # pos/D_pos > cutoff * neg/D_neg, multiplied out: no 0/0 at neg = 0.
      ratio_ok = pos * depth(r.negative) > (
        POS_NEG_RATIO_CUTOFF * neg * depth(r.positive)
      )
      hit = tf.logical_and(enough, ratio_ok)
    else:
      hit = tf.logical_and(enough, over_input > LOG_ENRICHMENT_CUTOFF)
    if over_input is None:
      score = _log_fraction(pos, depth(r.positive)) - _log_fraction(
        column(r.negative), depth(r.negative)
      )
    else:
      score = over_input
    hits.append(hit)
    scores.append(score)
    out[hit_feature(spec.molecule, r.name)] = tf.cast(hit, tf.int64)
  consecutive = tf.ones_like(hits[0])
  bucket = tf.zeros_like(hits[0], dtype=tf.int64)
  for level in spec.levels:
    at_level = tf.reduce_any(tf.stack([hits[i] for i in level]), axis=0)
    consecutive = tf.logical_and(consecutive, at_level)
    bucket += tf.cast(consecutive, tf.int64)
  out[bucket_feature(spec.molecule)] = bucket
  out[enrichment_feature(spec.molecule)] = tf.add_n(scores) / len(scores)
  return out


def evidence_features(
  inputs: Mapping[str, tf.Tensor], specs: Sequence[EvidenceSpec]
) -> Dict[str, tf.Tensor]:
  """Every molecule's evidence features, for `preprocessing_fn`."""
  depths = column_depths(inputs, specs)
  out = {}
  for spec in specs:
    out.update(evidence_from_counts(inputs, depths, spec))
  return out
