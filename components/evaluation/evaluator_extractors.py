"""The Evaluator's extractors: TFMA's defaults, with less work per example.

The TFX Evaluator imports the module its `module_path` names and calls its
`custom_extractors` (tfx/components/evaluator/executor.py). This one
returns TFMA's own default extractors (`tfma.default_extractors`, the list
the Evaluator runs without a module), with:

  * the predictions and transformed features extracted by TFMA's DoFn with
    each signature called by its input's name (`keyword_signatures`: TFMA
    calls them positionally, and TensorFlow formats an error holding the
    whole batch before it falls back to the name);
  * after the predictions, `lean_extracts.KeepNeededExtracts` drops the
    features and serialized examples that nothing after it reads;
  * where every metric reads a batch as its examples one by one
    (`slice_batches.can_batch`: the pipeline's own config),
    `slice_batches.SliceBatchesExtractor` replaces TFMA's unbatching and
    slicing: one extract per batch and slice key;
  * otherwise `fast_unbatch.FastUnbatchExtractor` replaces TFMA's
    UnbatchExtractor (same stage name), splitting dense batches with
    numpy, and `slice_keys.CachedSliceKeyExtractor` replaces TFMA's
    SliceKeyExtractor, computing each distinct combination of slicing
    values' keys once, with TFMA's slicer.

The metrics, their combiners, the blessing and the results written are
TFMA's, with the same values either way (tested).
"""

from typing import List

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.extractors import extractor
from tensorflow_model_analysis.utils import model_util

from components.evaluation import fast_unbatch
from components.evaluation import keyword_signatures
from components.evaluation import lean_extracts
from components.evaluation import slice_batches
from components.evaluation import slice_keys


def custom_extractors(
  eval_shared_model, eval_config, tensor_adapter_config=None
) -> List[extractor.Extractor]:
  """TFMA's default extractors, trimmed, unbatched and sliced faster.

  Args:
    eval_shared_model: the evaluated model or models.
    eval_config: the EvalConfig the Evaluator runs (defaults applied).
    tensor_adapter_config: as the Evaluator passes it to TFMA.

  Returns:
    The extractors for `tfma.ExtractEvaluateAndWriteResults`.
  """
  # The config with TFMA's defaults for these models, as default_extractors
  # and ExtractEvaluateAndWriteResults use it (model names, baseline).
  models = model_util.verify_and_update_eval_shared_models(eval_shared_model)
  eval_config = tfma.utils.update_eval_config_with_defaults(
    eval_config,
    has_baseline=bool(models) and len(models) > 1,
    rubber_stamp=model_util.has_rubber_stamp(models),
  )
  extractors = tfma.default_extractors(
    eval_shared_model=eval_shared_model,
    eval_config=eval_config,
    tensor_adapter_config=tensor_adapter_config,
  )
  keep = lean_extracts.KeepNeededExtracts(eval_config, eval_shared_model)
  # Batches only where the trimmed extracts are known to be all the
  # metrics read (keep is None for a Keras model's own metrics, say).
  batched = keep is not None and slice_batches.can_batch(eval_config)
  result = []
  for stage in extractors:
    if stage.stage_name == keyword_signatures.PREDICTIONS_STAGE_NAME:
      stage = keyword_signatures.PredictionsExtractor(
        eval_config, eval_shared_model
      )
    elif stage.stage_name == keyword_signatures.TRANSFORMED_STAGE_NAME:
      stage = keyword_signatures.TransformedFeaturesExtractor(
        eval_config, eval_shared_model
      )
    elif stage.stage_name == fast_unbatch.STAGE_NAME:
      if keep is not None:
        result.append(keep)
      if batched:
        continue  # The slicing stage takes the batches as they are.
      stage = fast_unbatch.FastUnbatchExtractor()
    elif stage.stage_name == slice_keys.STAGE_NAME:
      if batched:
        stage = slice_batches.SliceBatchesExtractor(eval_config)
      else:
        # default_extractors does not materialize slice keys either.
        stage = slice_keys.CachedSliceKeyExtractor(
          eval_config, materialize=False
        )
    result.append(stage)
  return result
