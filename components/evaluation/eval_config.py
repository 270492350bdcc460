"""The Evaluator's TFMA configuration: rank metrics, slices and thresholds."""

import json
from typing import Dict
from typing import Iterable
from typing import List
from typing import Mapping
from typing import Optional

import tensorflow_model_analysis as tfma

from components.evaluation import affinity_metrics
from components.features import binding_evidence
from components.features import encodings
from schema import identifiability

# TFMA imports the custom metrics by module path, in every Beam worker.
TFMA_METRICS_MODULE = 'components.evaluation.tfma_metrics'
TFMA_AFFINITY_METRICS_MODULE = 'components.evaluation.tfma_affinity_metrics'
# TFMA's example count, also right on extracts of several examples.
TFMA_EXAMPLE_COUNT_MODULE = 'components.evaluation.tfma_example_count'
# The Evaluator's module_path: its custom_extractors (TFMA's defaults with
# less Python per example; the same metric values).
EVALUATOR_MODULE = 'components.evaluation.evaluator_extractors'


def affinity_evidence(
  experiment, options, output_layers: Iterable[str] = ()
) -> Dict[str, str]:
  """{affinity output name: molecule} for each served latent with evidence.

  The served latents are the Trainer's (`network.affinity_molecules` on
  `run_setup.affinity_axes`). A latent is judged on the evidence of the
  molecule whose signs it carries (`identifiability.primary_molecules`):
  `affinity_target` and the combined `affinity_target_vs_serum` on the
  target's; a latent whose molecule has no evidence (a background) is left
  out.

  Args:
    experiment: the parsed `Experiment`.
    options: the `model_options.ModelOptions` the Trainer uses.
    output_layers: further output layers the evaluated model may have (a
      sweep picks one at run time): only latents every one of them serves
      are mapped, so the gate never waits for an output the model lacks.
  """
  # Imported here: the model and training stack is only needed for this.
  from components.model import network
  from components.training import run_setup

  served = None
  for layer in {options.output_layer, *output_layers}:
    signs = run_setup.affinity_axes(experiment, layer)
    latents = set(network.affinity_molecules(layer, options, signs))
    served = latents if served is None else served & latents
  primary = identifiability.primary_molecules(experiment)
  with_evidence = {
    s.molecule for s in binding_evidence.evidence_specs(experiment)
  }
  return {
    encodings.affinity_output_name(latent): primary.get(latent, latent)
    for latent in sorted(served)
    if primary.get(latent, latent) in with_evidence
  }


def evidence_levels(experiment) -> Dict[str, int]:
  """Each molecule with evidence -> its stringency levels K."""
  return {
    s.molecule: s.num_levels
    for s in binding_evidence.evidence_specs(experiment)
  }


def _overall(threshold: tfma.MetricThreshold):
  # Gates only the overall slice: a small slice may hold no hit at all.
  return [
    tfma.PerSliceMetricThreshold(
      slicing_specs=[tfma.SlicingSpec()], threshold=threshold
    )
  ]


def _lower_bound(value: float) -> tfma.MetricThreshold:
  return tfma.MetricThreshold(
    value_threshold=tfma.GenericValueThreshold(lower_bound={'value': value})
  )


def affinity_metrics_spec(
  evidence: Mapping[str, str],
  min_auc: float,
  min_spearman: float,
  num_levels: Optional[Mapping[str, int]] = None,
) -> tfma.MetricsSpec:
  """The affinity-vs-evidence metrics and their gate, per affinity output.

  Each affinity output must reach `min_auc` on
  `affinity/auc_hits_strictest` (the hits of the most stringent level with
  at least 10 of them) and `min_spearman` on
  `affinity/spearman_enrichment`. A NaN (no hit, or every sequence a hit,
  in the evaluated split) fails the gate: the affinity could not be
  checked.
  """
  config = {'evidence': dict(evidence), 'num_levels': dict(num_levels or {})}
  return tfma.MetricsSpec(
    output_names=sorted(evidence),
    metrics=[
      tfma.MetricConfig(
        class_name='AffinityEvidenceMetrics',
        module=TFMA_AFFINITY_METRICS_MODULE,
        config=json.dumps(
          dict(config, name=affinity_metrics.HEADLINE_AUC), sort_keys=True
        ),
        per_slice_thresholds=_overall(_lower_bound(min_auc)),
      ),
      tfma.MetricConfig(
        class_name='AffinityEvidenceMetrics',
        module=TFMA_AFFINITY_METRICS_MODULE,
        config=json.dumps(
          dict(
            config,
            name=affinity_metrics.SPEARMAN_ENRICHMENT,
            only_named=True,
          ),
          sort_keys=True,
        ),
        per_slice_thresholds=_overall(_lower_bound(min_spearman)),
      ),
    ],
  )


def make_eval_config(
  target_names: List[str],
  min_auc_true_top_1p: float,
  min_spearman: Optional[float] = None,
  affinity_evidence: Optional[Mapping[str, str]] = None,
  min_affinity_auc: Optional[float] = None,
  min_affinity_spearman: Optional[float] = None,
  evidence_levels: Optional[Mapping[str, int]] = None,
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
  example_count = tfma.MetricConfig(
    class_name='RowExampleCount', module=TFMA_EXAMPLE_COUNT_MODULE
  )
  metric_configs = [example_count, rank_metrics]
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
  metrics_specs = [tfma.MetricsSpec(metrics=metric_configs)]
  if affinity_evidence:
    if min_affinity_auc is None or min_affinity_spearman is None:
      raise ValueError(
        'affinity outputs with evidence need min_affinity_auc and '
        'min_affinity_spearman'
      )
    metrics_specs.append(
      affinity_metrics_spec(
        affinity_evidence,
        min_affinity_auc,
        min_affinity_spearman,
        evidence_levels,
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
    metrics_specs=metrics_specs,
  )
