"""Thresholds the Evaluator's blessing is gated on."""

import dataclasses
from typing import Optional

# 0.5 is chance for the mean over read outputs of auc/true_top_1p.
DEFAULT_MIN_AUC_TRUE_TOP_1P = 0.6


@dataclasses.dataclass(frozen=True)
class BlessingConfig:
  """Model-validation thresholds on the held-out clusters.

  Attributes:
    min_auc_true_top_1p: the mean over outputs of auc/true_top_1p must
      reach this.
    min_spearman: optional floor on the mean Spearman correlation over
      outputs (overall slice); None = no such gate.
  """

  min_auc_true_top_1p: float = DEFAULT_MIN_AUC_TRUE_TOP_1P
  min_spearman: Optional[float] = None

  def __post_init__(self):
    # Above 1 is allowed: an impossible threshold is how a run refuses to
    # push (the e2e tests use it).
    if not self.min_auc_true_top_1p >= 0:
      raise ValueError(
        f'--min_auc_true_top_1p must be >= 0, got {self.min_auc_true_top_1p}'
      )
    if self.min_spearman is not None and not -1 <= self.min_spearman <= 1:
      raise ValueError(
        f'--min_spearman must be in [-1, 1], got {self.min_spearman}'
      )
