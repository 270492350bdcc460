"""PushedModelBaseline: the Evaluator's baseline without a resolver node.

The change threshold compares a candidate with the latest blessed model.
TFX finds that model with a `Resolver` node, which the local orchestrator
and Vertex AI Pipelines run but the open-source Kubeflow Pipelines backend
does not (it has no resolver executor). Only blessed models are pushed, so
the newest complete version under the Pusher's directory is the latest
blessed model; this ordinary task copies it into its `Model` output, where
the Evaluator reads it.

A KFP task always produces its declared outputs, so on the first run (no
pushed version yet) the output is a copy of the candidate itself. The
candidate then meets every change threshold exactly (difference 0), which
is what TFX does without a baseline (`rubber_stamp`); the value thresholds
decide the blessing alone, as on the first run of the resolver flavour.
The artifact's `baseline_source` property says which case it was.
"""

import os
from typing import Optional

from absl import logging
import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import io_utils
from tfx.utils import path_utils

# The artifact's custom properties.
SOURCE_PROPERTY = 'baseline_source'
VERSION_PROPERTY = 'pushed_version'
FROM_PUSHED = 'pushed'
FROM_CANDIDATE = 'candidate'

# The Pusher writes saved_model.pb last: a version without it is a push
# that was interrupted, never a model.
_COMPLETE_MARKER = 'saved_model.pb'


def latest_pushed_version(serving_model_dir: str) -> Optional[str]:
  """The newest complete version the Pusher wrote, or None.

  Args:
    serving_model_dir: the Pusher's filesystem base directory (any
      tf.io.gfile scheme); it need not exist yet.

  Returns:
    The path of the newest version directory (the Pusher's versions are
    Unix timestamps) that holds a saved_model.pb.
  """
  if not tf.io.gfile.isdir(serving_model_dir):
    return None
  versions = sorted(
    (
      int(name.rstrip('/'))
      for name in tf.io.gfile.listdir(serving_model_dir)
      if name.rstrip('/').isdigit()
    ),
    reverse=True,
  )
  for version in versions:
    path = os.path.join(serving_model_dir, str(version))
    if tf.io.gfile.exists(os.path.join(path, _COMPLETE_MARKER)):
      return path
    logging.warning(
      'Skipping %s: no %s (interrupted push)', path, _COMPLETE_MARKER
    )
  return None


def write_baseline(
  candidate_uri: str, serving_model_dir: str, baseline_uri: str
) -> Optional[str]:
  """Copies the baseline SavedModel into `baseline_uri`'s serving layout.

  Args:
    candidate_uri: the candidate Model artifact's URI.
    serving_model_dir: the Pusher's base directory.
    baseline_uri: the output Model artifact's URI.

  Returns:
    The pushed version directory copied, or None when there was none and
    the candidate was copied instead.
  """
  pushed = latest_pushed_version(serving_model_dir)
  source = pushed or path_utils.serving_model_path(candidate_uri)
  target = path_utils.serving_model_dir(baseline_uri)
  io_utils.copy_dir(source, target)
  return pushed


@tfx.dsl.components.component
def PushedModelBaseline(
  model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
  baseline_model: tfx.dsl.components.OutputArtifact[standard_artifacts.Model],
  serving_model_dir: tfx.dsl.components.Parameter[str],
):
  """The latest pushed (so blessed) model, for the Evaluator's baseline.

  Args:
    model: the candidate; copied as the baseline when nothing was pushed.
    baseline_model: the baseline, in the Trainer's Format-Serving layout.
    serving_model_dir: the Pusher's base directory.
  """
  pushed = write_baseline(model.uri, serving_model_dir, baseline_model.uri)
  if pushed is None:
    print(
      f'No pushed model under {serving_model_dir} yet: the baseline is the '
      'candidate itself, so only the value thresholds decide the blessing.'
    )
    baseline_model.set_string_custom_property(SOURCE_PROPERTY, FROM_CANDIDATE)
    return
  print(f'Baseline: the latest pushed model, {pushed}')
  baseline_model.set_string_custom_property(SOURCE_PROPERTY, FROM_PUSHED)
  baseline_model.set_string_custom_property(
    VERSION_PROPERTY, os.path.basename(pushed)
  )
