"""The pipeline's EvalConfig for a hand-made model, for tests."""

from typing import Mapping
from typing import Optional
from typing import Sequence

import tensorflow_model_analysis as tfma

from components.config import blessing
from components.evaluation import eval_config


def pipeline_like(
  outputs: Sequence[str] = ('low_pos',),
  min_spearman: Optional[float] = None,
  evidence_levels: Optional[Mapping[str, int]] = None,
) -> tfma.EvalConfig:
  """Count outputs and `affinity_target` on the target's evidence, gated
  with the default blessing thresholds (the count AUC gate at 0)."""
  defaults = blessing.BlessingConfig()
  return eval_config.make_eval_config(
    list(outputs),
    0.0,
    min_spearman=min_spearman,
    affinity_evidence={'affinity_target': 'target'},
    min_affinity_auc=defaults.min_affinity_auc,
    min_affinity_spearman=defaults.min_affinity_spearman,
    evidence_levels=evidence_levels,
  )
