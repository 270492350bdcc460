"""The aptamer rank metrics as a TFMA metric, computed in Beam.

One combiner per model collects every output's (raw count label, predicted
normalised count) pairs and evaluates them with `components.rank_metrics`,
the single implementation shared with the training reports. It emits, per
output, every rank metric keyed by the output name, and the mean over outputs
with an empty output name. The metric's own name (default `auc/true_top_1p`)
is one of those keys, so a MetricConfig threshold on this metric gates the
mean over outputs, as the original selected models.
"""

from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.proto import config_pb2

from components import rank_metrics

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


class _RankMetricsCombiner(beam.CombineFn):
  """Gathers labels and predictions per output; ranks need them all."""

  def __init__(self, keys, outputs, model_name, eval_config, example_weighted):
    self._keys = keys
    self._outputs = list(outputs)
    self._model_name = model_name
    self._eval_config = eval_config
    self._example_weighted = example_weighted

  def create_accumulator(self):
    return {o: ([], []) for o in self._outputs}

  def add_input(self, acc, element: metric_types.StandardMetricInputs):
    for output in self._outputs:
      labels, predictions = acc[output]
      for (
        label,
        prediction,
        _,
      ) in metric_util.to_label_prediction_example_weight(
        element,
        eval_config=self._eval_config,
        model_name=self._model_name,
        output_name=output,
        example_weighted=self._example_weighted,
        flatten=True,
        allow_none=True,
      ):
        labels.append(np.nan if label is None else float(label))
        predictions.append(np.nan if prediction is None else float(prediction))
    return acc

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
