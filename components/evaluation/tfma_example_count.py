"""TFMA's example count, for extracts that may stand for several examples.

TFMA's ExampleCount adds one per extract it is given (or, weighted, the
sum of the example weights). The Evaluator's batched slicing
(`slice_batches`) hands the metrics one extract per batch and slice, with
its number of examples under `slice_batches.ROWS_KEY`; this metric adds
that number, and one for an extract without it, so it writes the same
`example_count` as TFMA's on either kind of extract (tested).
"""

from typing import Dict
from typing import List
from typing import Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.metrics import example_count
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import util

from components.evaluation.slice_batches import ROWS_KEY


class RowExampleCount(metric_types.Metric):
  """The number of examples (or their total weight), as TFMA's ExampleCount.

  Args:
    name: the metric name (TFMA's `example_count` by default).
  """

  def __init__(self, name: str = example_count.EXAMPLE_COUNT_NAME):
    super().__init__(_computations, name=name)

  @property
  def compute_confidence_interval(self) -> bool:
    """Never: a count has no sampling uncertainty (TFMA's rule)."""
    return False


metric_types.register_metric(RowExampleCount)


def _computations(
  name: str = example_count.EXAMPLE_COUNT_NAME,
  model_names: Optional[List[str]] = None,
  output_names: Optional[List[str]] = None,
  sub_keys: Optional[List[metric_types.SubKey]] = None,
  example_weighted: bool = False,
) -> metric_types.MetricComputations:
  computations = []
  for model_name in model_names or ['']:
    for output_name in output_names or ['']:
      keys = [
        metric_types.MetricKey(
          name=name,
          model_name=model_name,
          output_name=output_name,
          sub_key=sub_key,
          example_weighted=example_weighted,
        )
        for sub_key in sub_keys or [None]
      ]
      computations.append(
        metric_types.MetricComputation(
          keys=keys,
          preprocessors=[
            metric_types.StandardMetricInputsPreprocessor(
              include_filter={constants.EXAMPLE_WEIGHTS_KEY: {}, ROWS_KEY: {}},
              include_default_inputs=False,
            )
          ],
          combiner=_RowCountCombiner(
            model_name, output_name, keys, example_weighted
          ),
        )
      )
  return computations


class _RowCountCombiner(beam.CombineFn):
  """Adds each extract's examples (TFMA's count for a one-example extract)."""

  def __init__(self, model_name, output_name, keys, example_weighted):
    self._model_name = model_name
    self._output_name = output_name
    self._keys = keys
    self._example_weighted = example_weighted

  def create_accumulator(self) -> float:
    return 0.0

  def add_input(
    self, accumulator: float, element: metric_types.StandardMetricInputs
  ) -> float:
    weight = element.example_weight if self._example_weighted else None
    if weight is None:
      return accumulator + float(element.get(ROWS_KEY, 1))
    # TFMA's lookup of a model's and an output's weights.
    if isinstance(weight, dict) and self._model_name:
      value = util.get_by_keys(weight, [self._model_name], optional=True)
      if value is not None:
        weight = value
    if isinstance(weight, dict) and self._output_name:
      weight = util.get_by_keys(weight, [self._output_name], np.array(1.0))
    if isinstance(weight, dict):
      raise ValueError(
        f'example_count cannot be calculated on a dict {weight}: '
        f'model_name={self._model_name}, output_name={self._output_name}'
      )
    return accumulator + float(np.sum(weight))

  def merge_accumulators(self, accumulators) -> float:
    return float(sum(accumulators))

  def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, float]:
    return {k: accumulator for k in self._keys}
