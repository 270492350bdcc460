"""The aptamer rank metrics as a TFMA metric, computed in Beam.

One combiner per model collects every output's (raw count label, predicted
normalised count) pairs and evaluates them with `components.evaluation.rank_metrics`,
the single implementation shared with the training reports. It emits, per
output, every rank metric keyed by the output name, and the mean over outputs
with an empty output name. The metric's own name (default `auc/true_top_1p`)
is one of those keys, so a MetricConfig threshold on this metric gates the
mean over outputs, as the original selected models.
"""

import array
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.proto import config_pb2

from components.evaluation import rank_metrics

DEFAULT_NAME = rank_metrics.TUNER_OBJECTIVE_KEY


class AptamerRankMetrics(metric_types.Metric):
  """Per-output and mean-over-outputs aptamer rank metrics.

  Args:
    outputs: the model outputs (read columns) to evaluate; each needs a label
      key in the ModelSpec.
    name: the metric key that thresholds address: a name from
      `rank_metrics.OUTPUT_KEYS`, reported as the mean over outputs.
    only_named: emit only the `name` mean (for a second threshold on the
      same outputs without computing duplicate keys).
  """

  def __init__(
    self, outputs: List[str], name: str = DEFAULT_NAME, only_named: bool = False
  ):
    if name not in rank_metrics.OUTPUT_KEYS:
      raise ValueError(
        f'AptamerRankMetrics name must be one of {rank_metrics.OUTPUT_KEYS}'
      )
    if not outputs:
      raise ValueError('AptamerRankMetrics needs at least one output')
    super().__init__(
      _computations, name=name, outputs=list(outputs), only_named=only_named
    )


metric_types.register_metric(AptamerRankMetrics)


def metric_keys(
  name: str, outputs: Iterable[str], model_name: str, example_weighted: bool
) -> Dict[str, Dict[str, metric_types.MetricKey]]:
  """Keys per output ('' = mean over outputs) and per rank-metric name."""
  del name  # The name is one of the keys below.
  return {
    output: {
      metric: metric_types.MetricKey(
        name=metric,
        model_name=model_name,
        output_name=output,
        example_weighted=example_weighted,
      )
      for metric in rank_metrics.OUTPUT_KEYS
    }
    for output in [''] + list(outputs)
  }


def _computations(
  name: str,
  outputs: List[str],
  only_named: bool = False,
  eval_config: Optional[config_pb2.EvalConfig] = None,
  model_names: Optional[List[str]] = None,
  example_weighted: bool = False,
) -> metric_types.MetricComputations:
  computations = []
  for model_name in model_names or ['']:
    keys = metric_keys(name, outputs, model_name, example_weighted)
    if only_named:
      keys = {'': {name: keys[''][name]}}
    computations.append(
      metric_types.MetricComputation(
        keys=[k for per_output in keys.values() for k in per_output.values()],
        preprocessors=None,
        combiner=_RankMetricsCombiner(
          keys, outputs, model_name, eval_config, example_weighted
        ),
      )
    )
  return computations


def _scalar(value) -> Optional[float]:
  """The number in a numeric one-element 1-D array, else None."""
  if (
    isinstance(value, np.ndarray)
    and value.shape == (1,)
    and value.dtype.kind in 'fiub'
  ):
    return float(value[0])
  return None


_ONE = (1,)


def _all_scalars(values) -> bool:
  """Whether each value is a numeric one-element 1-D array (as _scalar)."""
  for value in values:
    if (
      type(value) is not np.ndarray
      or value.shape != _ONE
      or value.dtype.kind not in 'fiub'
    ):
      return False
  return True


def _same_length_vectors(values) -> bool:
  """Whether each value is a numeric 1-D array, all of one length.

  An extract of several examples (`slice_batches`) holds one row per
  example in each; flattening them gives the values TFMA's conversion
  yields for those examples one by one.
  """
  length = None
  for value in values:
    if (
      type(value) is not np.ndarray
      or value.ndim != 1
      or value.dtype.kind not in 'fiub'
    ):
      return False
    if length is None:
      length = value.shape[0]
    elif value.shape[0] != length:
      return False
  return True


def append_values(column: array.array, values: np.ndarray) -> None:
  """Appends a numeric vector to a float64 array, as float() each value."""
  column.frombytes(np.asarray(values, np.float64).tobytes())


class _RankMetricsCombiner(beam.CombineFn):
  """Gathers labels and predictions per output; ranks need them all.

  TFMA calls `add_input` once per extract and slice, and its general
  conversion (`metric_util.to_label_prediction_example_weight`) costs about
  23 us per output, most of the Evaluator's time on a large eval split. A
  one-value label and prediction found under the output's exact key (the
  shape every aptamer model produces) are read directly, and so are the
  equal-length vectors of an extract of several examples
  (`slice_batches`); anything else goes through TFMA's conversion, which
  flattens a batch the same way. All give the same values (tested).
  """

  def __init__(self, keys, outputs, model_name, eval_config, example_weighted):
    self._keys = keys
    self._outputs = list(outputs)
    self._model_name = model_name
    self._eval_config = eval_config
    self._example_weighted = example_weighted
    # Label and prediction keys of the ModelSpec, and '/' in a name (TFMA's
    # prefix lookups), need TFMA's own conversion.
    self._direct = not _spec_keys(eval_config, model_name) and not any(
      '/' in name for name in self._outputs + [model_name]
    )

  def create_accumulator(self):
    # float64 arrays, not lists: 8 bytes a value instead of 32 (a list
    # slot and a float object), a quarter of the memory on a large split
    # (benchmarks/tfma_combiner_memory.py).
    return {o: (array.array('d'), array.array('d')) for o in self._outputs}

  def add_input(self, acc, element: metric_types.StandardMetricInputs):
    label, prediction = self._model_values(element)
    if label is not None and prediction is not None:
      # Every output one value (each example of an aptamer model): one
      # check and append per value, no float() or per-output dispatch.
      ys = [label.get(o) for o in self._outputs]
      ps = [prediction.get(o) for o in self._outputs]
      if _all_scalars(ys) and _all_scalars(ps):
        for output, y, p in zip(self._outputs, ys, ps):
          labels, predictions = acc[output]
          # array('d') stores float(value), as _scalar does.
          labels.append(y[0])
          predictions.append(p[0])
        return acc
      if _same_length_vectors(ys) and _same_length_vectors(ps + ys[:1]):
        # Several examples at once (a batch of one slice): vectorised.
        for output, y, p in zip(self._outputs, ys, ps):
          labels, predictions = acc[output]
          append_values(labels, y)
          append_values(predictions, p)
        return acc
    for output in self._outputs:
      labels, predictions = acc[output]
      if label is not None and prediction is not None:
        y = _scalar(label.get(output))
        p = _scalar(prediction.get(output))
        if y is not None and p is not None:
          labels.append(y)
          predictions.append(p)
          continue
      for y, p in self._tfma_pairs(element, output):
        labels.append(y)
        predictions.append(p)
    return acc

  def _model_values(self, element):
    """This model's label and prediction dicts, or (None, None)."""
    if not self._direct:
      return None, None
    # The extracts' own keys first: the label/prediction properties cost
    # a microsecond each (they also accept the legacy singular keys).
    label = element.get(constants.LABELS_KEY)
    if label is None:
      label = element.label
    prediction = element.get(constants.PREDICTIONS_KEY)
    if prediction is None:
      prediction = element.prediction
    if self._model_name:
      # Predictions are keyed by model; labels may be.
      if not isinstance(prediction, dict):
        return None, None
      prediction = prediction.get(self._model_name)
      if isinstance(label, dict) and self._model_name in label:
        label = label[self._model_name]
    if isinstance(label, dict) and isinstance(prediction, dict):
      return label, prediction
    return None, None

  def _tfma_pairs(self, element, output):
    """(label, prediction) floats of one output by TFMA's conversion."""
    for label, prediction, _ in metric_util.to_label_prediction_example_weight(
      element,
      eval_config=self._eval_config,
      model_name=self._model_name,
      output_name=output,
      example_weighted=self._example_weighted,
      flatten=True,
      allow_none=True,
    ):
      yield (
        np.nan if label is None else float(label),
        np.nan if prediction is None else float(prediction),
      )

  def merge_accumulators(self, accs):
    accs = iter(accs)
    out = next(accs)
    for acc in accs:
      for output in self._outputs:
        out[output][0].extend(acc[output][0])
        out[output][1].extend(acc[output][1])
    return out

  def extract_output(self, acc) -> Dict[metric_types.MetricKey, float]:
    actual = np.column_stack(
      [np.asarray(acc[o][0], np.float64) for o in self._outputs]
    )
    predicted = np.column_stack(
      [np.asarray(acc[o][1], np.float64) for o in self._outputs]
    )
    table = rank_metrics.evaluation_table(actual, predicted, self._outputs)
    result = {}
    for output, row in table.items():
      keys = self._keys.get('' if output == rank_metrics.MEAN_ROW else output)
      for metric, value in row.items():
        if keys and metric in keys:
          result[keys[metric]] = float(value)
    return result


def _spec_keys(eval_config, model_name) -> bool:
  """Whether the model's spec sets a label_key or prediction_key."""
  if not eval_config or not eval_config.model_specs:
    return False
  specs = eval_config.model_specs
  for spec in specs:
    # TFMA matches a single spec whatever the model name.
    if (spec.name if len(specs) > 1 else '') == model_name:
      return bool(spec.label_key or spec.prediction_key)
  return False
