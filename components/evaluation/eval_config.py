"""The Evaluator's TFMA configuration: rank metrics, slices and thresholds."""

import json
from typing import List
from typing import Optional

import tensorflow_model_analysis as tfma

from components.features import encodings

# TFMA imports the custom metric by module path, in every Beam worker.
TFMA_METRICS_MODULE = 'components.evaluation.tfma_metrics'


def make_eval_config(
  target_names: List[str],
  min_auc_true_top_1p: float,
  min_spearman: Optional[float] = None,
) -> tfma.EvalConfig:
  """TFMA config: aptamer rank metrics on the held-out clusters.

  Each read column is one model output, labelled by its raw count (ranks do
  not depend on the normalisation). A candidate is blessed only if the mean
  over outputs of `auc/true_top_1p` (ROC-AUC for the true top 1% of nonzero
  counts, the original's model-selection metric) reaches
  `min_auc_true_top_1p`, and is no worse than the latest blessed model's
  (the change threshold is ignored while there is no baseline). With
  `min_spearman`, the mean Spearman correlation (all examples) must reach it
  too.
  """
  threshold = tfma.MetricThreshold(
    value_threshold=tfma.GenericValueThreshold(
      lower_bound={'value': min_auc_true_top_1p}
    ),
    change_threshold=tfma.GenericChangeThreshold(
      direction=tfma.MetricDirection.HIGHER_IS_BETTER,
      absolute={'value': -1e-10},
    ),
  )
  rank_metrics = tfma.MetricConfig(
    class_name='AptamerRankMetrics',
    module=TFMA_METRICS_MODULE,
    config=json.dumps({'outputs': list(target_names)}),
    # The gate is on the overall slice only: small slices (a rare GC
    # bucket, say) may hold no true top-1% sequence, and their AUC is
    # undefined.
    per_slice_thresholds=[
      tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()], threshold=threshold
      )
    ],
  )
  metric_configs = [tfma.MetricConfig(class_name='ExampleCount'), rank_metrics]
  if min_spearman is not None:
    metric_configs.append(
      tfma.MetricConfig(
        class_name='AptamerRankMetrics',
        module=TFMA_METRICS_MODULE,
        config=json.dumps(
          {
            'outputs': list(target_names),
            'name': 'spearman_correlation/score_all',
            'only_named': True,
          }
        ),
        per_slice_thresholds=[
          tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()],
            threshold=tfma.MetricThreshold(
              value_threshold=tfma.GenericValueThreshold(
                lower_bound={'value': min_spearman}
              )
            ),
          )
        ],
      )
    )
  return tfma.EvalConfig(
    model_specs=[
      tfma.ModelSpec(
        signature_name='serving_default',
        label_keys={t: t for t in target_names},
        preprocessing_function_names=['transform_features'],
      )
    ],
    # Overall, by GC content and by input-round abundance (rare versus
    # abundant sequences): transformed features, via transform_features.
    slicing_specs=[
      tfma.SlicingSpec(),
      tfma.SlicingSpec(feature_keys=[encodings.GC_SLICE]),
      tfma.SlicingSpec(feature_keys=[encodings.ABUNDANCE_SLICE]),
    ],
    metrics_specs=[tfma.MetricsSpec(metrics=metric_configs)],
  )
