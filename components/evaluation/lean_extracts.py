"""Evaluator extracts that carry only what the slices and metrics read.

TFMA's default extractors put every raw feature, every transformed feature
(the one-hot sequence, k-mer counts, binding evidence, ...) and the
serialized example into each batch, and its UnbatchExtractor then splits
every one of them into a per-example value: about 67 values per example,
a third of the Evaluator's time on a large test split
(`benchmarks/RESULTS.md`). After unbatching only the slicing specs'
features, the features a metric's preprocessor asks for, the labels, the
predictions and the example weights are read.

`KeepNeededExtracts` is a stage for before the UnbatchExtractor that drops
the other features and the serialized examples from each batch
(`evaluator_extractors` adds it). Whatever this module cannot see through
(SQL slices, a preprocessor of another kind, a filter matching every
feature, a Keras model's default metrics) keeps every feature, so the
metric values are those of the default extractors (tested).
"""

import copy
from typing import FrozenSet
from typing import List
from typing import NamedTuple
from typing import Optional

import apache_beam as beam
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.extractors import extractor
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import model_util

from components.evaluation import slice_keys

STAGE_NAME = 'KeepNeededExtracts'


class NeededInputs(NamedTuple):
  """What the stages after unbatching read of the features and inputs.

  Attributes:
    features: feature names kept in the raw and transformed features.
    serialized: whether the serialized examples (tfma.INPUT_KEY) are kept.
  """

  features: FrozenSet[str]
  serialized: bool


def _filter_names(subtree) -> Optional[FrozenSet[str]]:
  """Every key in a preprocessor's include filter, None for 'all'."""
  if not subtree:
    return None  # An empty filter matches every feature.
  names = set()
  for key, sub in subtree.items():
    names.add(key)
    if sub:
      # Per model ({model: {feature: {}}}): the model's features.
      inner = _filter_names(sub)
      if inner is None:
        return None
      names |= inner
  return frozenset(names)


def needed_inputs(
  eval_config: tfma.EvalConfig,
  eval_shared_models: Optional[List[tfma.types.EvalSharedModel]] = None,
) -> Optional[NeededInputs]:
  """The features and inputs read after unbatching; None: keep everything.

  Args:
    eval_config: the EvalConfig TFMA runs (defaults applied or not).
    eval_shared_models: the evaluated models (a Keras model's default
      metrics are not visible from the config: everything is kept).

  Returns:
    The slicing specs' feature names, each metrics spec's query key, and
    the features and inputs the metrics' preprocessors include; None where
    that cannot be known from the configuration.
  """
  for model in eval_shared_models or []:
    if model.model_type == constants.TF_KERAS and (
      model.include_default_metrics
    ):
      return None
  features = set()
  for spec in slice_keys.every_slicing_spec(eval_config):
    if spec.slice_keys_sql:
      return None  # SQL slices read any feature.
    features.update(spec.feature_keys)
    features.update(spec.feature_values)
  features.update(s.query_key for s in eval_config.metrics_specs if s.query_key)
  serialized = False
  computations = metric_specs.to_computations(
    eval_config.metrics_specs, eval_config=eval_config
  )
  for computation in computations:
    if not isinstance(computation, metric_types.MetricComputation):
      continue  # Derived metrics read other metrics, not extracts.
    for preprocessor in computation.preprocessors or []:
      if (
        type(preprocessor) is not metric_types.StandardMetricInputsPreprocessor
      ):
        return None  # Any other preprocessor may read anything.
      include = preprocessor.include_filter
      if not include:
        return None
      serialized |= constants.INPUT_KEY in include
      for key in (constants.FEATURES_KEY, constants.TRANSFORMED_FEATURES_KEY):
        if key in include:
          names = _filter_names(include[key])
          if names is None:
            return None
          features |= names
  return NeededInputs(frozenset(features), serialized)


def _keep(features, names):
  if not isinstance(features, dict):
    return features
  return {k: v for k, v in features.items() if k in names}


def keep_needed(batch, needed: NeededInputs, per_model: bool):
  """A copy of a batched extract without what nothing later reads."""
  result = copy.copy(batch)
  if not needed.serialized:
    result.pop(constants.INPUT_KEY, None)
  if constants.FEATURES_KEY in result:
    result[constants.FEATURES_KEY] = _keep(
      result[constants.FEATURES_KEY], needed.features
    )
  transformed = result.get(constants.TRANSFORMED_FEATURES_KEY)
  if isinstance(transformed, dict):
    if per_model:
      # Several models: each model's transformed features, by model name.
      transformed = {
        m: _keep(t, needed.features) for m, t in transformed.items()
      }
    else:
      transformed = _keep(transformed, needed.features)
    result[constants.TRANSFORMED_FEATURES_KEY] = transformed
  return result


def KeepNeededExtracts(  # pylint: disable=invalid-name
  eval_config: tfma.EvalConfig,
  eval_shared_model: Optional[tfma.types.MaybeMultipleEvalSharedModels] = None,
) -> Optional[extractor.Extractor]:
  """The stage that trims batched extracts; None if all is needed.

  Args:
    eval_config: the EvalConfig TFMA runs.
    eval_shared_model: the evaluated model or models.
  """
  models = model_util.verify_and_update_eval_shared_models(eval_shared_model)
  needed = needed_inputs(eval_config, models)
  if needed is None:
    return None
  per_model = len(eval_config.model_specs) > 1
  return extractor.Extractor(
    stage_name=STAGE_NAME,
    ptransform=beam.Map(keep_needed, needed=needed, per_model=per_model),
  )
