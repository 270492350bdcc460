"""TFMA's model calls, with each signature called by its input's name.

TFMA's ModelSignaturesDoFn (predictions and transformed features) calls a
signature that takes serialized examples positionally,
`signature(tf.constant(examples))`. A restored SavedModel signature takes
keyword arguments only, so TensorFlow first fails to bind, formats an
error message holding the repr of the whole input batch, and then binds
by keyword: one call on 800 serialized examples takes 14.8 ms, against
8.7 ms called by keyword (`benchmarks/RESULTS.md`, Evaluator throughput).

`PredictionsExtractor` and `TransformedFeaturesExtractor` here are TFMA's
two extractors, built with the same arguments and stage names, whose DoFn
hands TFMA each loaded model behind a view (`KeywordModel`) whose
signatures bind a single positional argument to the signature's only
input name. Everything else (which signature, which inputs, the outputs)
is TFMA's.
"""

from typing import Any
from typing import Iterator
from typing import Mapping
from typing import Optional

import apache_beam as beam
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.extractors import extractor
from tensorflow_model_analysis.extractors import predictions_extractor
from tensorflow_model_analysis.extractors import transformed_features_extractor
from tensorflow_model_analysis.utils import model_util

PREDICTIONS_STAGE_NAME = predictions_extractor.PREDICTIONS_EXTRACTOR_STAGE_NAME
# pylint: disable-next=protected-access
TRANSFORMED_STAGE_NAME = (
  transformed_features_extractor._TRANSFORMED_FEATURES_EXTRACTOR_STAGE_NAME
)


def _only_input_name(fn) -> Optional[str]:
  """The name of a signature's one keyword input; None otherwise."""
  structured = getattr(fn, 'structured_input_signature', None)
  if not structured or len(structured) != 2:
    return None
  positional, keywords = structured
  if positional or not isinstance(keywords, dict) or len(keywords) != 1:
    return None
  return next(iter(keywords))


class KeywordSignature:
  """A signature whose one positional argument is passed by name.

  Args:
    fn: a restored signature (a concrete function taking keywords).
  """

  def __init__(self, fn):
    self._fn = fn
    self._name = _only_input_name(fn)

  def __call__(self, *args, **kwargs):
    if self._name is not None and len(args) == 1 and not kwargs:
      return self._fn(**{self._name: args[0]})
    return self._fn(*args, **kwargs)

  def __getattr__(self, name: str) -> Any:
    return getattr(self._fn, name)


class _Signatures(Mapping):
  """A model's signatures, each a KeywordSignature."""

  def __init__(self, signatures):
    self._signatures = signatures

  def __getitem__(self, name):
    return KeywordSignature(self._signatures[name])

  def __iter__(self) -> Iterator[str]:
    return iter(self._signatures)

  def __len__(self) -> int:
    return len(self._signatures)


class KeywordModel:
  """A loaded model whose `signatures` are called by input name.

  Args:
    model: the loaded SavedModel; every other attribute is its own.
  """

  def __init__(self, model):
    self._model = model
    self.signatures = _Signatures(model.signatures)

  def __getattr__(self, name: str) -> Any:
    return getattr(self._model, name)


class KeywordSignaturesDoFn(model_util.ModelSignaturesDoFn):
  """TFMA's ModelSignaturesDoFn over KeywordModel views of its models."""

  def setup(self):
    super().setup()
    self._loaded_models = {
      name: KeywordModel(model) if hasattr(model, 'signatures') else model
      for name, model in self._loaded_models.items()
    }


def _extractor(
  stage_name: str,
  eval_config: tfma.EvalConfig,
  eval_shared_model: tfma.types.MaybeMultipleEvalSharedModels,
  signature_names_of,
  **do_fn_args,
) -> extractor.Extractor:
  """One of TFMA's model-signature extractors, with KeywordSignaturesDoFn.

  Args:
    stage_name: TFMA's stage name for it.
    eval_config: the EvalConfig.
    eval_shared_model: the evaluated model or models.
    signature_names_of: ModelSpec -> the signature names TFMA calls.
    **do_fn_args: the rest of ModelSignaturesDoFn's arguments, as TFMA's
      extractor passes them.
  """
  models = model_util.verify_and_update_eval_shared_models(eval_shared_model)
  specs = eval_config.model_specs
  return extractor.Extractor(
    stage_name=stage_name,
    ptransform=beam.ParDo(
      KeywordSignaturesDoFn(
        model_specs=list(specs),
        eval_shared_models={m.model_name: m for m in models},
        # '' names the model when there is one (TFMA's rule).
        signature_names={
          ('' if len(specs) == 1 else spec.name): signature_names_of(spec)
          for spec in specs
        },
        **do_fn_args,
      )
    ),
  )


# pylint: disable-next=invalid-name
def PredictionsExtractor(
  eval_config: tfma.EvalConfig,
  eval_shared_model: tfma.types.MaybeMultipleEvalSharedModels,
) -> extractor.Extractor:
  """TFMA's PredictionsExtractor, its signatures called by keyword."""
  return _extractor(
    PREDICTIONS_STAGE_NAME,
    eval_config,
    eval_shared_model,
    lambda spec: [spec.signature_name],
    output_keypath=(constants.PREDICTIONS_KEY,),
    prefer_dict_outputs=False,
  )


# pylint: disable-next=invalid-name
def TransformedFeaturesExtractor(
  eval_config: tfma.EvalConfig,
  eval_shared_model: tfma.types.MaybeMultipleEvalSharedModels,
) -> extractor.Extractor:
  """TFMA's TransformedFeaturesExtractor, its signatures called by keyword."""
  return _extractor(
    TRANSFORMED_STAGE_NAME,
    eval_config,
    eval_shared_model,
    lambda spec: list(spec.preprocessing_function_names),
    output_keypath=(constants.TRANSFORMED_FEATURES_KEY,),
    # pylint: disable-next=protected-access
    default_signature_names=list(
      transformed_features_extractor._DEFAULT_SIGNATURE_NAMES
    ),
    prefer_dict_outputs=True,
  )
