"""Thresholds the Evaluator's blessing is gated on."""

import dataclasses
from typing import Optional

# 0.5 is chance for the mean over read outputs of auc/true_top_1p.
DEFAULT_MIN_AUC_TRUE_TOP_1P = 0.6
# The affinity gate (`components.evaluation.affinity_metrics`), calibrated on
# the demo's held-out fifths: the true affinity (-log10 Kd) scores about
# 0.99 (ROC-AUC against the strictest level's hits) and 0.39 (Spearman with
# the log-enrichment), its negation 0.01 and -0.39, random noise 0.50 and
# 0.00 (+- 0.03 each). The AUC floor, like the count gate's, asks for a
# clearly better than chance ranking of the top binders. The Spearman floor
# only refuses an inverted ranking of the bulk: the truth itself reaches
# only 0.4, as the enrichment of a sequence never seen in a positive pool
# is noise, and a default model on serum_every_round that ranks the top
# binders at 0.91 (truth ROC-AUC 0.93) reaches 0.049.
DEFAULT_MIN_AFFINITY_AUC = 0.6
DEFAULT_MIN_AFFINITY_SPEARMAN = 0.0


@dataclasses.dataclass(frozen=True)
class BlessingConfig:
  """Model-validation thresholds on the held-out clusters.

  Attributes:
    min_auc_true_top_1p: the mean over outputs of auc/true_top_1p must
      reach this.
    min_spearman: optional floor on the mean Spearman correlation over
      outputs (overall slice); None = no such gate.
    min_affinity_auc: each affinity output with binding evidence must reach
      this ROC-AUC against the hits of the most stringent level with at
      least 10 of them (`affinity/auc_hits_strictest`; 0.5 = chance, below
      = inverted).
    min_affinity_spearman: ... and this Spearman correlation with the
      log-enrichment (`affinity/spearman_enrichment`; 0 = chance).
  """

  min_auc_true_top_1p: float = DEFAULT_MIN_AUC_TRUE_TOP_1P
  min_spearman: Optional[float] = None
  min_affinity_auc: float = DEFAULT_MIN_AFFINITY_AUC
  min_affinity_spearman: float = DEFAULT_MIN_AFFINITY_SPEARMAN

  def __post_init__(self):
    # Above 1 is allowed: an impossible threshold is how a run refuses to
    # push (the e2e tests use it).
    for name in ('min_auc_true_top_1p', 'min_affinity_auc'):
      value = getattr(self, name)
      if not value >= 0:
        raise ValueError(f'--{name} must be >= 0, got {value}')
    if self.min_spearman is not None and not -1 <= self.min_spearman <= 1:
      raise ValueError(
        f'--min_spearman must be in [-1, 1], got {self.min_spearman}'
      )
    if not -1 <= self.min_affinity_spearman <= 1:
      raise ValueError(
        '--min_affinity_spearman must be in [-1, 1], got '
        f'{self.min_affinity_spearman}'
      )
