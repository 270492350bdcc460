"""ReplicaMean: the Model that serves the mean of the replica Trainers.

A fan-in component (`components/search/fan_in.py`: one input per replica,
`model_0 .. model_{N-1}`) whose `model` output is a standard TFX Model
artifact, so the Evaluator judges and the Pusher serves the replica mean
like any Trainer model. The SavedModel is `components/model/replica_mean.py`'s:
mean outputs under the usual signatures, the replicas' standard deviation
under `serve_sequences_spread`.
"""

from typing import Any
from typing import Dict
from typing import List

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.model import replica_mean
from components.search import fan_in


class Executor(base_executor.BaseExecutor):
  """Exports the mean of every replica's serving model."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    del exec_properties
    model_dirs = [
      path_utils.serving_model_path(
        artifact_utils.get_single_uri(input_dict[f'model_{i}'])
      )
      for i in range(fan_in.branch_count(input_dict, 'model'))
    ]
    out_dir = path_utils.serving_model_path(
      artifact_utils.get_single_uri(output_dict['model'])
    )
    print(
      f'ReplicaMean: serving the mean of {len(model_dirs)} replicas',
      flush=True,
    )
    replica_mean.export_replica_mean(model_dirs, out_dir)


def make_replica_mean(
  models: List[types.BaseChannel],
) -> base_component.BaseComponent:
  """A ReplicaMean over each replica Trainer's `model` channel."""
  return fan_in.make_fan_in_component(
    'ReplicaMean',
    Executor,
    inputs={'model': models},
    outputs={'model': standard_artifacts.Model},
    parameters={},
  )
