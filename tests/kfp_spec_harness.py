"""Executes a compiled KFP v2 PipelineSpec task by task: a test harness.

This is not an orchestrator (no retries, caching, parallelism, Kubernetes
or metadata store). It does, for each task of the spec's root DAG, in
dependency order, what the open-source Kubeflow Pipelines backend's driver
and launcher do, so that what breaks real deployments breaks here: entry
points, argument wiring, module paths, packaging and artifact URIs.

- The ExecutorInput is built as the driver builds it: parameter values from
  the task's constants, input artifacts from the upstream tasks' recorded
  outputs (URI, type schema and the metadata their executor output
  reported), fresh output artifact URIs under the pipeline root
  (`<root>/<pipeline name>/<run id>/<task>/<output key>`), and the local
  `output_file` the launcher reads back.
- A task's trigger condition is evaluated in CEL (cel-python; the backend
  uses cel-go) against that ExecutorInput; a false condition skips it.
- A container task runs exactly its executor's image, command and
  arguments (`{{$}}` replaced by the ExecutorInput JSON), with the pipeline
  root and the dataset mounted at their own paths. `lifecycle` hooks are
  not run: the open-source backend ignores them too.
- An importer task records an artifact at its constant URI.
- A resolver task is an error, as on the open-source backend.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import celpy
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

# Where the launcher asks the executor to write its ExecutorOutput.
CONTAINER_OUTPUT_DIR = '/tmp/kfp_outputs'
OUTPUT_METADATA = 'output_metadata.json'
_INVOCATION = '{{$}}'
_LOG_TAIL = 6000


class SpecExecutionError(RuntimeError):
  """A task could not be run from the spec, or its container failed."""


@dataclasses.dataclass
class TaskResult:
  """What one task did.

  Attributes:
    name: the task's name in the root DAG.
    status: 'succeeded', 'skipped' (condition false) or 'imported'.
    seconds: wall time of the task (its container included).
    log: the container's combined output ('' when not run).
  """

  name: str
  status: str
  seconds: float = 0.0
  log: str = ''


def load_spec(path: str) -> pipeline_spec_pb2.PipelineSpec:
  """The PipelineSpec of a compiled package (PipelineJob JSON or YAML)."""
  with open(path) as f:
    text = f.read()
  if path.endswith(('.yaml', '.yml')):
    import yaml

    document = yaml.safe_load(text)
  else:
    document = json.loads(text)
  document = document.get('pipelineSpec', document)
  return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())


def task_order(spec: pipeline_spec_pb2.PipelineSpec) -> List[str]:
  """The root DAG's tasks, each after every task it depends on."""
  tasks = spec.root.dag.tasks
  waits = {}
  for name, task in tasks.items():
    producers = {
      a.task_output_artifact.producer_task
      for a in task.inputs.artifacts.values()
      if a.HasField('task_output_artifact')
    }
    waits[name] = set(task.dependent_tasks) | producers
  order = []
  while waits:
    ready = sorted(n for n, deps in waits.items() if deps <= set(order))
    if not ready:
      raise SpecExecutionError(f'the DAG has a cycle among {sorted(waits)}')
    order.extend(ready)
    for name in ready:
      del waits[name]
  return order


def _executor(spec, component) -> dict:
  executors = json_format.MessageToDict(spec.deployment_spec)['executors']
  return executors[component.executor_label]


def condition_holds(condition: str, executor_input) -> bool:
  """Evaluates a trigger condition against an ExecutorInput, as CEL."""
  inputs = json_format.MessageToDict(
    executor_input.inputs, preserving_proto_field_name=True
  )
  environment = celpy.Environment()
  program = environment.program(environment.compile(condition))
  result = program.evaluate({'inputs': celpy.json_to_cel(inputs)})
  if not isinstance(result, celpy.celtypes.BoolType):
    raise SpecExecutionError(f'condition {condition!r} gave {result!r}')
  return bool(result)


# Runs one container: (image, command + args, mounts {host: container},
# log path) -> exit status.
ContainerRunner = Callable[[str, List[str], Dict[str, str], str], int]


def engine_runner(
  engine: Sequence[str], run_args: Sequence[str] = ()
) -> ContainerRunner:
  """Runs each task with `<engine> run --rm <run_args>` (podman, docker).

  Args:
    engine: the engine's command and global options, e.g.
      ['podman', '--runtime', 'runc'].
    run_args: options of `run`, e.g. ulimits or --network=none.
  """

  def run(image, argv, mounts, log_path):
    volumes = []
    for host, container in mounts.items():
      volumes += ['-v', f'{host}:{container}']
    command = [*engine, 'run', '--rm', *run_args, *volumes, image, *argv]
    with open(log_path, 'w') as log:
      return subprocess.run(
        command, stdout=log, stderr=subprocess.STDOUT
      ).returncode

  return run


class SpecExecutor:
  """Runs a compiled spec's tasks in order; see the module docstring.

  Args:
    spec: the compiled PipelineSpec.
    pipeline_root: a local directory; artifacts are written under it (it
      is mounted into each container at the same path).
    run_container: how a container task is run (`engine_runner`).
    mounts: further host directories to mount at the same path (the
      dataset), read-only.
    run_id: the run's id in artifact URIs.
    progress: called with each finished TaskResult.
  """

  def __init__(
    self,
    spec: pipeline_spec_pb2.PipelineSpec,
    pipeline_root: str,
    run_container: ContainerRunner,
    mounts: Sequence[str] = (),
    run_id: str = 'run-1',
    progress: Optional[Callable[[TaskResult], None]] = None,
  ):
    self._spec = spec
    self._root = os.path.abspath(pipeline_root)
    self._run_container = run_container
    self._mounts = list(mounts)
    self._run_id = run_id
    self._progress = progress or (lambda result: None)
    # task -> output key -> recorded RuntimeArtifacts.
    self.outputs: Dict[str, Dict[str, List]] = {}
    self.results: Dict[str, TaskResult] = {}

  def _run_dir(self, *parts) -> str:
    return os.path.join(
      self._root, self._spec.pipeline_info.name, self._run_id, *parts
    )

  def run(self, only: Optional[Sequence[str]] = None) -> Dict[str, TaskResult]:
    """Runs every task (or `only` those, whose inputs are in `outputs`).

    Raises:
      SpecExecutionError: on the first task that cannot run or fails.
    """
    for name in task_order(self._spec):
      if only is not None and name not in only:
        continue
      start = time.monotonic()
      result = self._run_task(name)
      result.seconds = time.monotonic() - start
      self.results[name] = result
      self._progress(result)
    return self.results

  def _input_artifacts(self, name, task, executor_input):
    for key, spec in task.inputs.artifacts.items():
      if not spec.HasField('task_output_artifact'):
        raise SpecExecutionError(
          f'{name}: input {key} is not an upstream task output'
        )
      source = spec.task_output_artifact
      produced = self.outputs.get(source.producer_task)
      if produced is None:
        raise SpecExecutionError(
          f'{name}: input {key} comes from {source.producer_task}, which '
          'did not run'
        )
      artifacts = executor_input.inputs.artifacts[key].artifacts
      for artifact in produced[source.output_artifact_key]:
        artifacts.add().CopyFrom(artifact)

  def _input_parameters(self, name, task, executor_input):
    for key, spec in task.inputs.parameters.items():
      value = spec.runtime_value
      if value.HasField('constant'):
        executor_input.inputs.parameter_values[key].CopyFrom(value.constant)
      elif value.HasField('constant_value'):
        executor_input.inputs.parameters[key].CopyFrom(value.constant_value)
      else:
        raise SpecExecutionError(
          f'{name}: parameter {key} is not a constant ({spec})'
        )

  def _new_output(self, name, key, definition):
    artifact = pipeline_spec_pb2.RuntimeArtifact(
      name=f'{self._run_id}/{name}/{key}',
      uri=self._run_dir(name, key),
    )
    artifact.type.CopyFrom(definition.artifact_type)
    return artifact

  def _run_task(self, name) -> TaskResult:
    task = self._spec.root.dag.tasks[name]
    component = self._spec.components[task.component_ref.name]
    executor = _executor(self._spec, component)
    if 'resolver' in executor:
      raise SpecExecutionError(
        f'{name}: resolver tasks are not run by the open-source backend'
      )
    if 'importer' in executor:
      return self._import(name, component, executor['importer'])
    if 'container' not in executor:
      raise SpecExecutionError(f'{name}: unknown executor {sorted(executor)}')
    executor_input = pipeline_spec_pb2.ExecutorInput()
    self._input_parameters(name, task, executor_input)
    self._input_artifacts(name, task, executor_input)
    condition = task.trigger_policy.condition
    if condition and not condition_holds(condition, executor_input):
      return TaskResult(name, 'skipped')
    outputs = {}
    for key, definition in component.output_definitions.artifacts.items():
      artifact = self._new_output(name, key, definition)
      executor_input.outputs.artifacts[key].artifacts.add().CopyFrom(artifact)
      outputs[key] = artifact
    local_outputs = self._run_dir(name, '.kfp_outputs')
    os.makedirs(local_outputs, exist_ok=True)
    executor_input.outputs.output_file = os.path.join(
      CONTAINER_OUTPUT_DIR, OUTPUT_METADATA
    )
    container = executor['container']
    invocation = json_format.MessageToJson(executor_input)
    argv = list(container.get('command', [])) + [
      invocation if a == _INVOCATION else a for a in container.get('args', [])
    ]
    mounts = {self._root: self._root, local_outputs: CONTAINER_OUTPUT_DIR}
    mounts.update({m: f'{m}:ro' for m in self._mounts})
    log_path = self._run_dir(name, '.kfp_outputs', 'log.txt')
    status = self._run_container(container['image'], argv, mounts, log_path)
    with open(log_path) as f:
      log = f.read()
    if status != 0:
      raise SpecExecutionError(
        f'{name}: the container exited with {status}:\n{log[-_LOG_TAIL:]}'
      )
    self.outputs[name] = self._recorded(name, outputs, local_outputs)
    return TaskResult(name, 'succeeded', log=log)

  def _recorded(self, name, outputs, local_outputs):
    """The outputs as the launcher records them: merged executor output."""
    path = os.path.join(local_outputs, OUTPUT_METADATA)
    if not os.path.exists(path):
      raise SpecExecutionError(f'{name}: no {OUTPUT_METADATA} was written')
    executor_output = pipeline_spec_pb2.ExecutorOutput()
    with open(path) as f:
      json_format.Parse(f.read(), executor_output, ignore_unknown_fields=True)
    recorded = {}
    for key, artifact in outputs.items():
      reported = executor_output.artifacts.get(key)
      if reported is not None and reported.artifacts:
        artifact.metadata.CopyFrom(reported.artifacts[0].metadata)
        if reported.artifacts[0].uri:
          artifact.uri = reported.artifacts[0].uri
      recorded[key] = [artifact]
    return recorded

  def _import(self, name, component, importer) -> TaskResult:
    uri = importer['artifactUri']
    uri = uri.get('constant') or uri['constantValue']['stringValue']
    (key,) = component.output_definitions.artifacts
    artifact = pipeline_spec_pb2.RuntimeArtifact(
      name=f'{self._run_id}/{name}/{key}', uri=uri
    )
    json_format.ParseDict(importer['typeSchema'], artifact.type)
    self.outputs[name] = {key: [artifact]}
    return TaskResult(name, 'imported')


def print_progress(result: TaskResult) -> None:
  print(
    f'  {result.name:<24} {result.status:<10} {result.seconds:6.1f} s',
    file=sys.stderr,
    flush=True,
  )
