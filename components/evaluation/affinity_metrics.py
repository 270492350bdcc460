"""How well a predicted affinity ranks sequences by their binding evidence.

The evidence (`components.features.binding_evidence`) comes from the held-out
sequences' own counts, so these metrics need no ground truth: the ROC-AUC of
the affinity against the hits at each stringency level (bucket >= k), and
its Spearman correlation with the stringency bucket and with the
log-enrichment. An affinity that ranks binders inversely scores below 0.5
and below 0; an uninformative one near 0.5 and 0.
"""

import dataclasses
from typing import Dict
from typing import Tuple

import numpy as np
from scipy import stats

PREFIX = 'affinity/'
# The gate's keys: the hits of the most stringent level that has enough of
# them, and the enrichment ranking. The strictest level is what a scientist
# ranks for (the top binders, like the count metrics' true top 1%); the
# least stringent level's hits are many and noisy, and a model can rank the
# top binders well while ordering the bulk poorly.
HEADLINE_AUC = PREFIX + 'auc_hits_strictest'
# Fewer hits than this give too noisy an AUC to gate on.
MIN_GATE_HITS = 10
SPEARMAN_ENRICHMENT = PREFIX + 'spearman_enrichment'
SPEARMAN_BUCKET = PREFIX + 'spearman_bucket'
COUNT = PREFIX + 'count'
NAN_PREDICTIONS = PREFIX + 'nan_predictions'


def auc_key(level: int) -> str:
  """ROC-AUC against the hits at stringency level `level` (bucket >= level)."""
  return f'{PREFIX}auc_hits_{level}'


def hits_key(level: int) -> str:
  """Number of sequences with bucket >= `level`."""
  return f'{PREFIX}num_hits_{level}'


def metric_names(num_levels: int) -> Tuple[str, ...]:
  """Every key `AffinityMetrics.as_dict` returns for `num_levels` levels."""
  names = [
    COUNT,
    NAN_PREDICTIONS,
    SPEARMAN_BUCKET,
    SPEARMAN_ENRICHMENT,
    HEADLINE_AUC,
  ]
  for level in range(1, num_levels + 1):
    names += [auc_key(level), hits_key(level)]
  return tuple(names)


@dataclasses.dataclass(frozen=True)
class AffinityMetrics:
  """Affinity-vs-evidence metrics of one affinity output.

  Attributes:
    auc_hits: ROC-AUC per stringency level 1..K (NaN where every sequence,
      or none, is a hit at that level).
    num_hits: sequences with bucket >= k, per level.
    spearman_bucket: Spearman correlation with the stringency bucket.
    spearman_enrichment: Spearman correlation with the log-enrichment.
    count: sequences evaluated (with a finite prediction).
    nan_predictions: sequences left out for a NaN or infinite prediction.
  """

  auc_hits: Tuple[float, ...]
  num_hits: Tuple[int, ...]
  spearman_bucket: float
  spearman_enrichment: float
  count: int
  nan_predictions: int

  @property
  def headline_auc(self) -> float:
    """The gate's AUC: hits at the most stringent level with at least
    MIN_GATE_HITS of them (the least stringent level if none has; NaN
    without levels)."""
    for auc, hits in zip(self.auc_hits[::-1], self.num_hits[::-1]):
      if hits >= MIN_GATE_HITS:
        return auc
    return self.auc_hits[0] if self.auc_hits else float('nan')

  def as_dict(self) -> Dict[str, float]:
    out = {
      COUNT: float(self.count),
      NAN_PREDICTIONS: float(self.nan_predictions),
      SPEARMAN_BUCKET: self.spearman_bucket,
      SPEARMAN_ENRICHMENT: self.spearman_enrichment,
      HEADLINE_AUC: self.headline_auc,
    }
    for level, (auc, hits) in enumerate(zip(self.auc_hits, self.num_hits), 1):
      out[auc_key(level)] = auc
      out[hits_key(level)] = float(hits)
    return out


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
  """ROC-AUC with ties counted half (Mann-Whitney); NaN without two classes."""
  positive = np.asarray(positive, bool)
  num_pos = int(positive.sum())
  num_neg = positive.size - num_pos
  if not num_pos or not num_neg:
    return float('nan')
  ranks = stats.rankdata(scores)
  return float(
    (ranks[positive].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg)
  )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
  """Spearman correlation; NaN when either side is constant or too short."""
  if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
    return float('nan')
  return float(stats.spearmanr(a, b).correlation)


def affinity_metrics(
  affinity: np.ndarray,
  bucket: np.ndarray,
  enrichment: np.ndarray,
  num_levels: int,
) -> AffinityMetrics:
  """The metrics of one affinity output against one molecule's evidence.

  Args:
    affinity: [n] predicted affinity (higher = binds better).
    bucket: [n] stringency bucket, 0..num_levels.
    enrichment: [n] mean log-enrichment.
    num_levels: the molecule's stringency levels K.

  Returns:
    The metrics; sequences with a non-finite prediction (or evidence) are
    left out and counted.
  """
  affinity = np.asarray(affinity, np.float64).reshape(-1)
  bucket = np.asarray(bucket, np.float64).reshape(-1)
  enrichment = np.asarray(enrichment, np.float64).reshape(-1)
  if not affinity.size == bucket.size == enrichment.size:
    raise ValueError(
      f'affinity, bucket and enrichment differ in length: {affinity.size}, '
      f'{bucket.size}, {enrichment.size}'
    )
  bad_prediction = ~np.isfinite(affinity)
  keep = ~bad_prediction & np.isfinite(bucket) & np.isfinite(enrichment)
  affinity, bucket, enrichment = affinity[keep], bucket[keep], enrichment[keep]
  levels = range(1, num_levels + 1)
  return AffinityMetrics(
    auc_hits=tuple(roc_auc(affinity, bucket >= k) for k in levels),
    num_hits=tuple(int((bucket >= k).sum()) for k in levels),
    spearman_bucket=spearman(affinity, bucket),
    spearman_enrichment=spearman(affinity, enrichment),
    count=int(affinity.size),
    nan_predictions=int(bad_prediction.sum()),
  )
