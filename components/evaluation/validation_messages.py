"""Readable lines for each threshold an Evaluator's model failed.

From the `evaluation` artifact (its URI holds TFMA's `validations` and
`eval_config.json`), e.g.

  affinity_target (target): affinity/auc_hits_strictest = 0.12, needs >= 0.6
  mean over outputs: auc/true_top_1p = 0.595, needs >= 0.6
  mean over outputs: auc/true_top_1p, change vs baseline = -0.021,
    needs >= -1e-10 (one line)

An affinity output's molecule comes from the AffinityEvidenceMetrics
configuration of the evaluation's own EvalConfig.
"""

import json
import math
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

_AFFINITY_CLASS = 'AffinityEvidenceMetrics'


def _bound_number(value: float) -> str:
  """A threshold as written: 0.6, -1e-10."""
  return f'{value:g}'


def _value(value: float, bounds) -> str:
  """A metric value to 3 decimals, more where it would read as a bound."""
  if math.isnan(value):
    return 'nan'
  for digits in range(3, 10):
    text = f'{value:.{digits}f}'
    if all(float(text) != b for b in bounds if b != value):
      return text
  return repr(value)


def _bounds(threshold) -> List[float]:
  """The numbers a value or change threshold compares with."""
  if threshold.HasField('value_threshold'):
    bounds = threshold.value_threshold
    fields = [
      getattr(bounds, f).value
      for f in ('lower_bound', 'upper_bound')
      if bounds.HasField(f)
    ]
  else:
    change = threshold.change_threshold
    fields = [
      getattr(change, f).value
      for f in ('absolute', 'relative')
      if change.HasField(f)
    ]
  return fields


def _bound(threshold) -> str:
  """`needs >= 0.6`, for a value or a change threshold."""
  if threshold.HasField('value_threshold'):
    bounds = threshold.value_threshold
    needs = []
    if bounds.HasField('lower_bound'):
      needs.append(f'>= {_bound_number(bounds.lower_bound.value)}')
    if bounds.HasField('upper_bound'):
      needs.append(f'<= {_bound_number(bounds.upper_bound.value)}')
    return 'needs ' + ' and '.join(needs)
  change = threshold.change_threshold
  sign = (
    '>=' if change.direction == tfma.MetricDirection.HIGHER_IS_BETTER else '<='
  )
  needs = []
  if change.HasField('absolute'):
    needs.append(f'{sign} {_bound_number(change.absolute.value)}')
  if change.HasField('relative'):
    needs.append(
      f'a relative change {sign} {_bound_number(change.relative.value)}'
    )
  return 'needs ' + ' and '.join(needs)


def _slice_name(slice_key) -> str:
  parts = []
  for key in slice_key.single_slice_keys:
    which = key.WhichOneof('kind')
    value = getattr(key, which) if which else ''
    if isinstance(value, bytes):
      value = value.decode('utf-8', 'replace')
    parts.append(f'{key.column}={value}')
  return ', '.join(parts)


def affinity_molecules(eval_config) -> Dict[str, str]:
  """{affinity output: molecule} from an EvalConfig's affinity metrics."""
  out = {}
  if eval_config is None:
    return out
  for spec in eval_config.metrics_specs:
    for metric in spec.metrics:
      if metric.class_name == _AFFINITY_CLASS and metric.config:
        out.update(json.loads(metric.config).get('evidence', {}))
  return out


def failure_lines(
  result, molecules: Optional[Mapping[str, str]] = None
) -> List[str]:
  """One line per failed threshold of a `ValidationResult`.

  Args:
    result: the `tfma.ValidationResult`.
    molecules: affinity output -> the molecule whose evidence judged it,
      named in parentheses.
  """
  molecules = dict(molecules or {})
  lines = []
  for per_slice in result.metric_validations_per_slice:
    where = _slice_name(per_slice.slice_key)
    for failure in per_slice.failures:
      key = failure.metric_key
      output = key.output_name or 'mean over outputs'
      if key.output_name in molecules:
        output += f' ({molecules[key.output_name]})'
      if where:
        output += f' [{where}]'
      value = _value(
        failure.metric_value.double_value.value,
        _bounds(failure.metric_threshold),
      )
      measured = (
        f'{key.name}, change vs baseline = {value}'
        if key.is_diff
        else f'{key.name} = {value}'
      )
      lines.append(f'{output}: {measured}, {_bound(failure.metric_threshold)}')
  for spec in result.missing_slices:
    lines.append(f'no examples in the thresholded slice {spec}'.strip())
  return lines


def evaluation_failures(evaluation_uri: str) -> List[str]:
  """Failure lines of an Evaluator's `evaluation` artifact ([] = blessed)."""
  result = tfma.load_validation_result(evaluation_uri)
  eval_config, _, _, _ = eval_config_writer.load_eval_run(evaluation_uri)
  return failure_lines(result, affinity_molecules(eval_config))
