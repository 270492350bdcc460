"""The affinity-vs-evidence metrics as a TFMA metric, computed in Beam.

Each affinity output (`affinity_<molecule>`) is judged on one molecule's
binding evidence, named by the metric's configuration (`evidence`: affinity
output -> molecule), never derived here: a combined latent such as
`affinity_target_vs_serum` is judged on the target's evidence.

The evidence is read from the TRANSFORMED features (the model's
`transform_features` signature, which the EvalConfig's ModelSpec names in
`preprocessing_function_names`), with the raw features as a fallback for
examples that already carry them. A StandardMetricInputsPreprocessor with an
include filter on those feature names puts them next to the predictions;
label keys would give each output only one value, and the metric needs two
(bucket and enrichment).

Keys per affinity output (`components.evaluation.affinity_metrics`):
`affinity/auc_hits_<k>` for k = 1..K, `affinity/num_hits_<k>`,
`affinity/auc_hits_strictest` (the most stringent level with at least
`MIN_GATE_HITS` hits), `affinity/spearman_bucket`,
`affinity/spearman_enrichment`, `affinity/count` and
`affinity/nan_predictions`. The metric's own name (default
`affinity/auc_hits_strictest`) is one of them, so a MetricConfig threshold
on this metric, in a MetricsSpec whose output_names are the affinity
outputs, gates that key per output.
"""

import array
import collections
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.metrics import metric_types

from components.evaluation import affinity_metrics
from components.evaluation import slice_batches
from components.evaluation import tfma_metrics
from components.features import binding_evidence

DEFAULT_NAME = affinity_metrics.HEADLINE_AUC


class AffinityEvidenceMetrics(metric_types.Metric):
  """Affinity outputs ranked against their molecule's binding evidence.

  Args:
    evidence: affinity output name -> the molecule whose evidence features
      judge it.
    num_levels: molecule -> its stringency levels K (the
      `EvidenceSpec.num_levels`); a molecule left out gets K = its largest
      bucket seen (at least 1).
    name: the key thresholds address, one of the keys above.
    only_named: emit only `name` per output (for a second threshold on the
      same outputs).
  """

  def __init__(
    self,
    evidence: Mapping[str, str],
    num_levels: Optional[Mapping[str, int]] = None,
    name: str = DEFAULT_NAME,
    only_named: bool = False,
  ):
    if not evidence:
      raise ValueError('AffinityEvidenceMetrics needs at least one output')
    num_levels = dict(num_levels or {})
    bad = {m: k for m, k in num_levels.items() if not k >= 1}
    if bad:
      raise ValueError(f'num_levels must be >= 1, got {bad}')
    levels = [num_levels.get(m, 1) for m in evidence.values()]
    if name not in affinity_metrics.metric_names(min(levels)):
      raise ValueError(
        f'AffinityEvidenceMetrics name must be one of '
        f'{affinity_metrics.metric_names(min(levels))}, got {name!r}'
      )
    super().__init__(
      _computations,
      name=name,
      evidence=dict(evidence),
      num_levels=num_levels,
      only_named=only_named,
    )


metric_types.register_metric(AffinityEvidenceMetrics)


def evidence_features(evidence: Mapping[str, str]) -> List[str]:
  """The transformed features the metric reads, sorted."""
  return sorted(
    f(m)
    for m in set(evidence.values())
    for f in (
      binding_evidence.bucket_feature,
      binding_evidence.enrichment_feature,
    )
  )


def _preprocessor(evidence, model_names):
  """Keeps the evidence features (per model when several are evaluated)."""
  wanted = {f: {} for f in evidence_features(evidence)}
  transformed = dict(wanted)
  transformed.update({m: dict(wanted) for m in model_names if m})
  return metric_types.StandardMetricInputsPreprocessor(
    include_filter={
      constants.TRANSFORMED_FEATURES_KEY: transformed,
      constants.FEATURES_KEY: dict(wanted),
      # An extract of several examples says how many (slice_batches).
      slice_batches.ROWS_KEY: {},
    },
    include_default_inputs=True,
  )


def _computations(
  name: str,
  evidence: Dict[str, str],
  num_levels: Dict[str, int],
  only_named: bool = False,
  model_names: Optional[List[str]] = None,
  example_weighted: bool = False,
) -> metric_types.MetricComputations:
  model_names = list(model_names or [''])
  computations = []
  for model_name in model_names:
    combiner = _AffinityCombiner(
      evidence, num_levels, model_name, example_weighted, name, only_named
    )
    computations.append(
      metric_types.MetricComputation(
        keys=combiner.declared_keys(),
        preprocessors=[_preprocessor(evidence, model_names)],
        combiner=combiner,
      )
    )
  return computations


def _scalar(value) -> Optional[float]:
  """The number in a one-element array or scalar, else None."""
  if value is None or isinstance(value, Mapping):
    return None
  array = np.asarray(value)
  if array.size != 1 or array.dtype.kind not in 'fiub':
    return None
  return float(array.reshape(-1)[0])


def _vector(value, rows: int) -> Optional[np.ndarray]:
  """One number per example of an extract of `rows` examples, else None."""
  if value is None or isinstance(value, Mapping):
    return None
  array = np.asarray(value)
  if array.dtype.kind not in 'fiub' or array.size != rows:
    return None
  if array.ndim != 1 and array.shape != (rows, 1):
    return None
  return array.reshape(-1)


def _for_model(value, model_name):
  """The model's entry of a dict keyed by model name, else the value."""
  if model_name and isinstance(value, Mapping) and model_name in value:
    return value[model_name]
  return value


class _AffinityCombiner(beam.CombineFn):
  """Gathers (affinity, bucket, enrichment) per output; ranks need them all.

  An example without the output's prediction or its molecule's evidence
  (e.g. a baseline model whose transform graph predates the evidence) is
  left out. An extract of several examples (`slice_batches.ROWS_KEY`) is
  read as those examples one by one.
  """

  def __init__(
    self, evidence, num_levels, model_name, example_weighted, name, only_named
  ):
    self._evidence = dict(evidence)
    self._num_levels = dict(num_levels)
    self._model_name = model_name
    self._example_weighted = example_weighted
    self._name = name
    self._only_named = only_named

  def _key(self, metric: str, output: str) -> metric_types.MetricKey:
    return metric_types.MetricKey(
      name=metric,
      model_name=self._model_name,
      output_name=output,
      example_weighted=self._example_weighted,
    )

  def _names(self, num_levels: int) -> List[str]:
    if self._only_named:
      return [self._name]
    return list(affinity_metrics.metric_names(num_levels))

  def declared_keys(self) -> List[metric_types.MetricKey]:
    """The keys known before the data (K = 1 where num_levels is unset)."""
    return [
      self._key(metric, output)
      for output, molecule in self._evidence.items()
      for metric in self._names(self._num_levels.get(molecule, 1))
    ]

  def create_accumulator(self):
    # float64 arrays, not lists: a quarter of the memory (as in
    # tfma_metrics._RankMetricsCombiner).
    return {
      o: (array.array('d'), array.array('d'), array.array('d'))
      for o in self._evidence
    }

  def add_input(self, acc, element: metric_types.StandardMetricInputs):
    predictions = _for_model(element.prediction, self._model_name)
    if not isinstance(predictions, Mapping):
      return acc
    transformed = _for_model(
      element.get(constants.TRANSFORMED_FEATURES_KEY) or {}, self._model_name
    )
    features = collections.ChainMap(
      transformed if isinstance(transformed, Mapping) else {},
      element.get(constants.FEATURES_KEY) or {},
    )
    rows = element.get(slice_batches.ROWS_KEY)
    for output, molecule in self._evidence.items():
      raw = (
        predictions.get(output),
        features.get(binding_evidence.bucket_feature(molecule)),
        features.get(binding_evidence.enrichment_feature(molecule)),
      )
      if rows is None:  # One example.
        values = tuple(_scalar(v) for v in raw)
        if None in values:
          continue
        for column, value in zip(acc[output], values):
          column.append(value)
      else:  # Several examples of one slice: one row each.
        vectors = tuple(_vector(v, int(rows)) for v in raw)
        if any(v is None for v in vectors):
          continue
        for column, vector in zip(acc[output], vectors):
          tfma_metrics.append_values(column, vector)
    return acc

  def merge_accumulators(self, accs):
    accs = iter(accs)
    out = next(accs)
    for acc in accs:
      for output in self._evidence:
        for column, more in zip(out[output], acc[output]):
          column.extend(more)
    return out

  def extract_output(self, acc) -> Dict[metric_types.MetricKey, float]:
    result = {}
    for output, molecule in self._evidence.items():
      affinity, bucket, enrichment = (
        np.asarray(c, np.float64) for c in acc[output]
      )
      k = self._num_levels.get(molecule)
      if k is None:
        k = max(1, int(bucket.max()) if bucket.size else 1)
      values = affinity_metrics.affinity_metrics(
        affinity, bucket, enrichment, k
      ).as_dict()
      for metric in self._names(k):
        result[self._key(metric, output)] = float(values.get(metric, np.nan))
    return result
