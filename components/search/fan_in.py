"""Fan-in components with one named input per upstream branch.

KubeflowV2DagRunner rejects union channels (`Only single Channel is
supported`), so a component that gathers N parallel branches gets a
component spec generated for N: inputs `<prefix>_0 .. <prefix>_{N-1}`. The
compiled DAG then depends on every branch, and the executor iterates over
the numbered inputs.
"""

from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Type

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import component_spec


def make_fan_in_component(
  name: str,
  executor_class: Type[base_executor.BaseExecutor],
  inputs: Dict[str, List[types.BaseChannel]],
  outputs: Dict[str, Type[types.Artifact]],
  parameters: Dict[str, str],
  shared_inputs: Optional[Dict[str, types.BaseChannel]] = None,
) -> base_component.BaseComponent:
  """Builds a component gathering equally long lists of channels.

  Args:
    name: the component class name (its default id).
    executor_class: reads inputs `<prefix>_<i>` for i < len(channels).
    inputs: prefix -> one channel per branch (all lists equally long).
    outputs: output key -> artifact type.
    parameters: execution parameter name -> string value.
    shared_inputs: further inputs, one channel each, under their own key.

  Returns:
    The component instance.
  """
  lengths = {len(channels) for channels in inputs.values()}
  if len(lengths) != 1 or 0 in lengths:
    raise ValueError(f'{name}: every input needs one channel per branch')
  channels = dict(shared_inputs or {})
  channel_types = {
    key: component_spec.ChannelParameter(type=channel.type)
    for key, channel in channels.items()
  }
  for prefix, branch_channels in inputs.items():
    for i, channel in enumerate(branch_channels):
      channel_types[f'{prefix}_{i}'] = component_spec.ChannelParameter(
        type=channel.type
      )
      channels[f'{prefix}_{i}'] = channel
  spec_class = type(
    f'{name}Spec',
    (types.ComponentSpec,),
    {
      'PARAMETERS': {
        key: component_spec.ExecutionParameter(type=str) for key in parameters
      },
      'INPUTS': channel_types,
      'OUTPUTS': {
        key: component_spec.ChannelParameter(type=artifact_type)
        for key, artifact_type in outputs.items()
      },
    },
  )
  component_class = type(
    name,
    (base_component.BaseComponent,),
    {
      'SPEC_CLASS': spec_class,
      'EXECUTOR_SPEC': executor_spec.ExecutorClassSpec(executor_class),
    },
  )
  spec = spec_class(
    **channels,
    **parameters,
    **{key: types.Channel(type=t) for key, t in outputs.items()},
  )
  return component_class(spec=spec)


def branch_count(input_dict: Dict[str, Any], prefix: str) -> int:
  """How many `<prefix>_<i>` inputs an executor received."""
  count = 0
  while f'{prefix}_{count}' in input_dict:
    count += 1
  return count
