"""Runs a metric combiner over elements in a real Beam pipeline, for tests."""

from typing import Any
from typing import Iterable

import apache_beam as beam

# The DirectRunner pickles the pipeline: results come back through a
# module-level list, not a closure.
_RESULTS = []


def _collect(result):
  _RESULTS.append(result)


def combine_globally(combiner: beam.CombineFn, elements: Iterable[Any]) -> Any:
  """The combiner's single output over `elements` (DirectRunner)."""
  _RESULTS.clear()
  with beam.Pipeline(runner='DirectRunner') as p:
    _ = (
      p
      | beam.Create(list(elements))
      | beam.CombineGlobally(combiner)
      | beam.Map(_collect)
    )
  [result] = _RESULTS
  return result
