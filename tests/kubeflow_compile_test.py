"""Compiles the pipeline for Kubeflow Pipelines v2 and checks the spec.

No cluster is needed: the compiled PipelineSpec is loaded with the KFP
proto and its tasks, edges, containers and trigger policy are checked, for
both backends (`--kfp_backend=oss|vertex`). The trigger condition is
evaluated with a CEL interpreter against the ExecutorInput the KFP driver
builds, as the open-source backend does (with cel-go).
"""

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from unittest import mock

import celpy
from google.protobuf import json_format
from kfp.client import client as kfp_client
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
import tensorflow as tf
from tfx.orchestration.kubeflow.v2.container import (
  kubeflow_v2_entrypoint_utils as entrypoint_utils,
)
from tfx.utils import import_utils
import yaml

from components.config import keys
from pipeline import beam_runners
from pipeline import configs
from pipeline import run_options
from schema import experiment as experiment_lib

_RUNNER_PATH = os.path.join(
  configs.REPO_ROOT, 'kubeflow', 'kubeflow_v2_runner.py'
)
# kubeflow/ is not a package: load the script as a module.
_spec = importlib.util.spec_from_file_location(
  'kubeflow_v2_runner', _RUNNER_PATH
)
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

_IMAGE = 'europe-docker.pkg.dev/my-project/repo/aptamer-tfx:test'
_FLINK = {'flink_master': 'flink-jobmanager:8081', 'parallelism': 4}
_BEAM_ARGS = beam_runners.beam_pipeline_args('flink', **_FLINK)
_COMMAND = [
  'python',
  '-m',
  'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor',
]
_RESOLVER = 'latest_blessed_model_resolver'
_MODEL_RESOLVER = f'{_RESOLVER}-model-resolver'
_BLESSING_RESOLVER = f'{_RESOLVER}-model-blessing-resolver'

_BASELINE = 'PushedModelBaseline'

# The intended DAG of the default pipeline (the oss backend): task -> the
# tasks it waits for.
_DEFAULT_EDGES = {
  'ImportExampleGen': [],
  'StatisticsGen': ['ImportExampleGen'],
  'ExperimentSchemaGen': ['StatisticsGen'],
  'ExampleValidator': ['ExperimentSchemaGen', 'StatisticsGen'],
  'DataContractCheck': [
    'ExampleValidator',
    'ExperimentSchemaGen',
    'ImportExampleGen',
  ],
  'Transform': ['DataContractCheck', 'ImportExampleGen'],
  'Trainer': ['DataContractCheck', 'Transform'],
  # The latest pushed model, read by an ordinary task: no resolver.
  _BASELINE: ['Trainer'],
  'Evaluator': ['ImportExampleGen', _BASELINE, 'Trainer'],
  'Pusher': ['Evaluator', 'Trainer'],
  # Designs from every replica, under the Pusher's condition.
  'Designer': ['Evaluator', 'ImportExampleGen', 'Trainer'],
}

# The same pipeline for Vertex AI: TFX's metadata Resolver instead.
_VERTEX_EDGES = {
  **{k: v for k, v in _DEFAULT_EDGES.items() if k != _BASELINE},
  _BLESSING_RESOLVER: [],
  # Waits for the blessing resolver through its input artifact.
  _MODEL_RESOLVER: [],
  'Evaluator': ['ImportExampleGen', 'Trainer', _MODEL_RESOLVER],
}


def _kubeflow_options(tmp_path, name='pipeline.json', **overrides):
  values = dict(
    pipeline_root=str(tmp_path / 'root'),
    image=_IMAGE,
    beam_runner='flink',
    beam_options=dict(_FLINK),
    output_file=str(tmp_path / name),
  )
  values.update(overrides)
  return runner.KubeflowOptions(**values)


def _compile(tmp_path, run=None, name='pipeline.json', **overrides):
  """Compiles; returns (file path, job dict as loaded from the file)."""
  options = run_options.RunOptions(**(run or {}))
  kf = _kubeflow_options(tmp_path, name=name, **overrides)
  path = runner.compile_pipeline(options, kf)
  with open(path) as f:
    job = json.load(f) if path.endswith('.json') else None
  return path, job


def _spec_of(job):
  return json_format.ParseDict(
    job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec()
  )


def _edges(spec):
  return {
    name: sorted(task.dependent_tasks)
    for name, task in spec.root.dag.tasks.items()
  }


@pytest.fixture(scope='module')
def default_job(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('default')
  path, job = _compile(tmp_path)
  return tmp_path, path, job


@pytest.fixture(scope='module')
def vertex_job(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('vertex')
  return _compile(tmp_path, kfp_backend='vertex')[1]


@pytest.fixture(scope='module')
def tuner_job(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('tuner')
  return _compile(tmp_path, run={'tuner_trials': 2})[1]


def _constant(parameter) -> str:
  """A task parameter's string value, in schema 2.1 or 2.0 form."""
  value = parameter.runtime_value
  if value.HasField('constant'):
    return value.constant.string_value
  return value.constant_value.string_value


def _executors(job):
  return job['pipelineSpec']['deploymentSpec']['executors']


def test_default_pipeline_tasks_and_edges(default_job):
  job = default_job[2]
  spec = _spec_of(job)
  assert _edges(spec) == _DEFAULT_EDGES
  # The open-source backend rejects a spec with any resolver executor.
  assert not [e for e in _executors(job).values() if 'resolver' in e]
  baseline = spec.root.dag.tasks[_BASELINE].inputs
  assert baseline.artifacts['model'].task_output_artifact.producer_task == (
    'Trainer'
  )
  # It looks where the Pusher pushes.
  serving_dir = baseline.parameters['serving_model_dir']
  pusher = spec.root.dag.tasks['Pusher'].inputs.parameters
  destination = json.loads(_constant(pusher['push_destination']))
  assert _constant(serving_dir) == (destination['filesystem']['base_directory'])
  evaluator = spec.root.dag.tasks['Evaluator'].inputs.artifacts
  source = evaluator['baseline_model'].task_output_artifact
  assert source.producer_task == _BASELINE
  assert source.output_artifact_key == 'baseline_model'
  assert evaluator['model'].task_output_artifact.producer_task == 'Trainer'


def test_oss_spec_has_only_constants_the_open_source_driver_reads(
  default_job, vertex_job
):
  # The open-source driver resolves `runtimeValue.constant` (schema 2.1)
  # only; schema 2.0's `constantValue` fails there as "not implemented".
  oss = default_job[2]['pipelineSpec']
  assert oss['schemaVersion'] == '2.1.0'
  assert '"constantValue"' not in json.dumps(oss)
  vertex = vertex_job['pipelineSpec']
  assert vertex['schemaVersion'] == '2.0.0'


def test_vertex_pipeline_keeps_the_metadata_resolver(vertex_job):
  spec = _spec_of(vertex_job)
  assert _edges(spec) == _VERTEX_EDGES
  resolvers = sorted(
    n for n, e in _executors(vertex_job).items() if 'resolver' in e
  )
  assert resolvers == [
    f'{_BLESSING_RESOLVER}_executor',
    f'{_MODEL_RESOLVER}_executor',
  ]
  model_resolver = spec.root.dag.tasks[_MODEL_RESOLVER]
  source = model_resolver.inputs.artifacts['input'].task_output_artifact
  assert source.producer_task == _BLESSING_RESOLVER
  # The baseline of the Evaluator is the resolved latest blessed model.
  evaluator = spec.root.dag.tasks['Evaluator'].inputs.artifacts
  assert (
    evaluator['baseline_model'].task_output_artifact.producer_task
    == _MODEL_RESOLVER
  )
  assert evaluator['model'].task_output_artifact.producer_task == 'Trainer'


def test_tuner_pipeline_tasks_and_edges(tuner_job):
  spec = _spec_of(tuner_job)
  expected = dict(_DEFAULT_EDGES)
  expected['Tuner'] = ['DataContractCheck', 'Transform']
  expected['Trainer'] = ['DataContractCheck', 'Transform', 'Tuner']
  assert _edges(spec) == expected
  hparams = spec.root.dag.tasks['Trainer'].inputs.artifacts['hyperparameters']
  assert hparams.task_output_artifact.producer_task == 'Tuner'
  assert (
    hparams.task_output_artifact.output_artifact_key == 'best_hyperparameters'
  )


def test_sweep_tuners_are_parallel_and_fan_in(tmp_path):
  _, job = _compile(
    tmp_path,
    run={
      'autotune': True,
      'tuner_trials': 2,
      'sweep_num_fc_layers': '0,1',
      'sweep_output_layers': 'LATENT_AFFINITY',
      'sweep_loss_names': 'SQUARED_ERROR',
      'num_replicas': 2,
    },
  )
  edges = _edges(_spec_of(job))
  tuner_deps = ['DataContractCheck', 'Transform']
  assert edges['Tuner_00'] == tuner_deps
  assert edges['Tuner_01'] == tuner_deps  # No edge between the Tuners.
  assert edges['SweepSelector'] == ['Tuner_00', 'Tuner_01']
  assert edges['Trainer'] == ['DataContractCheck', 'SweepSelector', 'Transform']
  assert edges['Trainer_01'] == edges['Trainer']
  assert edges['ReplicaReport'] == ['Trainer', 'Trainer_01']
  # The replicas' mean is what is judged and pushed.
  assert edges['ReplicaMean'] == ['Trainer', 'Trainer_01']
  assert 'ReplicaMean' in edges['Evaluator']
  assert 'Trainer' not in edges['Evaluator']
  assert edges['Pusher'] == ['Evaluator', 'ReplicaMean']
  assert edges['Designer'] == [
    'Evaluator',
    'ImportExampleGen',
    'Trainer',
    'Trainer_01',
  ]
  # The container rebuilds a custom artifact class from its schema title.
  for component in job['pipelineSpec']['components'].values():
    outputs = component.get('outputDefinitions', {}).get('artifacts', {})
    for output in outputs.values():
      type_schema = json_format.ParseDict(
        output['artifactType'], pipeline_spec_pb2.ArtifactTypeSchema()
      )
      class_path = entrypoint_utils._retrieve_class_path(type_schema)
      assert import_utils.import_class_by_path(class_path)


def test_folding_cache_is_an_imported_artifact(tmp_path):
  cache_dir = 'gs://bucket/fold-cache'
  _, job = _compile(
    tmp_path,
    run={'structure_features': True, 'structure_cache_dir': cache_dir},
  )
  spec = _spec_of(job)
  edges = _edges(spec)
  assert edges['folding_cache_importer'] == []
  assert edges['StructureFeatures'] == [
    'ImportExampleGen',
    'folding_cache_importer',
  ]
  assert edges['Transform'] == ['DataContractCheck', 'StructureFeatures']
  cache = spec.root.dag.tasks['StructureFeatures'].inputs.artifacts['cache']
  assert cache.task_output_artifact.producer_task == 'folding_cache_importer'
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  importer = executors['folding_cache_importer_executor']['importer']
  # Schema 2.1 (the oss default) writes the URI as a plain constant.
  assert importer['artifactUri']['constant'] == cache_dir
  # The container rebuilds the FoldingCache class from its schema title.
  type_schema = json_format.ParseDict(
    importer['typeSchema'], pipeline_spec_pb2.ArtifactTypeSchema()
  )
  class_path = entrypoint_utils._retrieve_class_path(type_schema)
  assert class_path == 'components.FoldingCache'
  assert import_utils.import_class_by_path(class_path)
  # The cache is no exec property any more.
  parameters = spec.root.dag.tasks['StructureFeatures'].inputs.parameters
  assert 'cache_dir' not in parameters


@pytest.mark.parametrize('which', ['default', 'tuner', 'vertex'])
def test_every_executor_runs_the_image_with_the_beam_args(
  which, default_job, tuner_job, vertex_job
):
  job = {'default': default_job[2], 'tuner': tuner_job, 'vertex': vertex_job}[
    which
  ]
  spec = _spec_of(job)
  executors = spec.deployment_spec.fields['executors']
  containers = {}
  for name, executor in executors.struct_value.fields.items():
    executor = json_format.MessageToDict(executor.struct_value)
    if 'resolver' in executor:
      continue
    containers[name] = executor['container']
  # One container executor per task, except Vertex's two resolver tasks.
  resolvers = 2 if which == 'vertex' else 0
  assert len(containers) == len(spec.root.dag.tasks) - resolvers
  for name, container in containers.items():
    assert container['image'] == _IMAGE, name
    assert container['command'] == _COMMAND, name
    args = container['args']
    assert args[2:4] == ['--json_serialized_invocation_args', '{{$}}'], name
    if which == 'vertex':
      assert args[4:] == _BEAM_ARGS, name
    else:
      # Schema 2.1: the parameter types travel with the invocation.
      assert args[4] == '--json_serialized_inputs_spec_args', name
      assert args[6:] == _BEAM_ARGS, name
    # The executor class must be importable inside the image, i.e. from
    # an installed package (never `__main__`).
    class_path = args[args.index('--executor_class_path') + 1]
    module, cls = class_path.rsplit('.', 1)
    assert not module.startswith('__main__'), name
    assert hasattr(importlib.import_module(module), cls), class_path


def _condition_holds(condition: str, blessed: float) -> bool:
  """Evaluates a trigger condition as the KFP driver does.

  The driver gives CEL the task's ExecutorInput fields (`inputs`) with the
  upstream artifacts' metadata, as the Evaluator's executor output
  recorded it (`blessed` is a number).
  """
  executor_input = pipeline_spec_pb2.ExecutorInput()
  artifact = executor_input.inputs.artifacts['_Evaluator.blessing'].artifacts
  artifact.add().metadata.update({'blessed': blessed})
  inputs = json_format.MessageToDict(
    executor_input.inputs, preserving_proto_field_name=True
  )
  environment = celpy.Environment()
  program = environment.program(environment.compile(condition))
  return bool(program.evaluate({'inputs': celpy.json_to_cel(inputs)}))


@pytest.mark.parametrize('which', ['default', 'vertex'])
def test_pusher_and_designer_run_only_when_blessed(
  which, default_job, vertex_job
):
  job = default_job[2] if which == 'default' else vertex_job
  spec = _spec_of(job)
  for task in ('Pusher', 'Designer'):
    condition = spec.root.dag.tasks[task].trigger_policy.condition
    assert condition == (
      "(inputs.artifacts['_Evaluator.blessing'].artifacts[0]"
      ".metadata['blessed'] == 1.0)"
    ), task
    assert _condition_holds(condition, blessed=1.0), task
    assert not _condition_holds(condition, blessed=0.0), task


def test_pipeline_name_root_and_paths(default_job):
  tmp_path, _, job = default_job
  spec = _spec_of(job)
  assert runner._LEGAL_NAME.match(spec.pipeline_info.name)
  assert spec.pipeline_info.name == configs.PIPELINE_NAME
  assert job['displayName'] == configs.PIPELINE_NAME
  root = str(tmp_path / 'root')
  assert job['runtimeConfig']['gcsOutputDirectory'] == root
  assert spec.default_pipeline_root == root
  # Dotted-path UDFs: nothing was packaged, the root was not even created.
  assert not os.path.exists(root)
  transform = spec.root.dag.tasks['Transform'].inputs.parameters
  assert _constant(transform['preprocessing_fn']) == configs.PREPROCESSING_FN


def test_illegal_pipeline_name_is_rejected(tmp_path):
  with pytest.raises(runner.InputError, match='pipeline_name'):
    _compile(tmp_path, pipeline_name='aptamer_tfx')


def test_unknown_backend_is_rejected(tmp_path):
  with pytest.raises(runner.InputError, match='--kfp_backend'):
    _compile(tmp_path, kfp_backend='argo')


def test_gcs_root_compiles_offline(tmp_path):
  # No wheels are written, so a gs:// root needs no credentials here.
  bucket = 'gs://aptamer-tfx-no-such-bucket'
  _, job = _compile(
    tmp_path,
    run={'run_name': 'r1'},
    pipeline_root=f'{bucket}/root',
    beam_runner='dataflow',
    beam_options={'project': 'p', 'region': 'europe-west4'},
  )
  spec = _spec_of(job)
  assert job['runtimeConfig']['gcsOutputDirectory'] == f'{bucket}/root'
  pusher = spec.root.dag.tasks['Pusher'].inputs.parameters
  destination = json.loads(_constant(pusher['push_destination']))
  assert destination['filesystem']['base_directory'] == (
    f'{bucket}/root/r1/serving_model'
  )
  trainer = json_format.MessageToDict(
    spec.deployment_spec.fields['executors']
    .struct_value.fields['Trainer_executor']
    .struct_value
  )
  args = trainer['container']['args']
  # Dataflow defaults: the pipeline image and a temp dir beside the root.
  assert f'--sdk_container_image={_IMAGE}' in args
  assert f'--temp_location={bucket}/root/beam-tmp' in args


def test_missing_options_are_named(tmp_path):
  with pytest.raises(runner.InputError, match='--image'):
    _compile(tmp_path, image='')
  with pytest.raises(runner.InputError, match='--pipeline_root'):
    _compile(tmp_path, pipeline_root='')
  with pytest.raises(runner.InputError, match='--beam_project'):
    _compile(tmp_path, beam_runner='dataflow', beam_options={'region': 'r'})


def test_input_dir_is_read_with_gfile(tmp_path):
  # ram:// stands in for gs://: only tf.io.gfile can read it.
  demo = configs.DATASETS['demo'].input_dir
  data = 'ram://aptamer-tfx-test/demo'
  tf.io.gfile.makedirs(data)
  name = experiment_lib.EXPERIMENT_FILENAME
  tf.io.gfile.copy(os.path.join(demo, name), f'{data}/{name}', overwrite=True)
  with tf.io.gfile.GFile(f'{data}/examples.tfrecord.gz', 'w') as f:
    f.write('')
  _, job = _compile(tmp_path, run={'input_dir': data})
  spec = _spec_of(job)
  example_gen = spec.root.dag.tasks['ImportExampleGen'].inputs.parameters
  assert _constant(example_gen['input_base']) == data
  with pytest.raises(runner.InputError, match='not found'):
    _compile(tmp_path, run={'input_dir': 'ram://aptamer-tfx-test/none'})


def test_yaml_package_is_what_the_kfp_client_loads(tmp_path):
  path, _ = _compile(tmp_path, name='pipeline.yaml')
  with open(path) as f:
    text = f.read()
  assert text.startswith('# PIPELINE DEFINITION\n# Name: aptamer-tfx\n')
  # The kfp client's own loader (what create_run_from_pipeline_package and
  # upload_pipeline use) accepts it.
  doc = kfp_client._extract_pipeline_yaml(path)
  # Same spec as the JSON form of the same compile.
  _, job = _compile(tmp_path, name='pipeline.json')
  assert doc.pipeline_spec == _spec_of(job)


def test_submit_creates_a_run_from_the_yaml(tmp_path, default_job):
  _, json_path, _ = default_job
  client = mock.MagicMock()
  client.get_pipeline_id.return_value = None
  client.create_run_from_pipeline_package.return_value.run_id = 'run-1'
  options = run_options.RunOptions(run_name='r1')
  kf = _kubeflow_options(
    tmp_path, host='http://kfp', experiment='exp', upload=True
  )
  assert runner.submit(json_path, options, kf, client=client) == 'run-1'
  yaml_path = os.path.splitext(json_path)[0] + '.yaml'
  kfp_client._extract_pipeline_yaml(yaml_path)  # Loads.
  client.upload_pipeline.assert_called_once_with(
    yaml_path, pipeline_name='aptamer-tfx', namespace=None
  )
  client.create_run_from_pipeline_package.assert_called_once_with(
    yaml_path,
    arguments={},
    run_name='r1',
    experiment_name='exp',
    namespace=None,
    pipeline_root=kf.pipeline_root,
    enable_caching=True,
    service_account=None,
  )


def test_command_line(tmp_path):
  # The script as users run it: flags, sys.path set-up and YAML output.
  output = tmp_path / 'tuned.yaml'
  result = subprocess.run(
    [
      sys.executable,
      _RUNNER_PATH,
      f'--pipeline_root={tmp_path}/root',
      f'--image={_IMAGE}',
      f'--output_file={output}',
      '--tuner_trials=2',
      '--epochs=3',
      '--beam_runner=spark',
      '--beam_spark_rest_url=http://spark:6066',
    ],
    cwd=tmp_path,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  spec = json_format.ParseDict(
    yaml.safe_load(output.read_text()), pipeline_spec_pb2.PipelineSpec()
  )
  assert 'Tuner' in spec.root.dag.tasks
  trainer = spec.root.dag.tasks['Trainer'].inputs.parameters
  config = json.loads(_constant(trainer['custom_config']))
  assert config[keys.TRAINING_KEY]['epochs'] == 3
  # A missing required Beam option fails naming the flag.
  result = subprocess.run(
    [
      sys.executable,
      _RUNNER_PATH,
      f'--pipeline_root={tmp_path}/root',
      f'--image={_IMAGE}',
      '--beam_runner=flink',
    ],
    cwd=tmp_path,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert result.returncode == 2
  assert '--beam_flink_master' in result.stderr


def test_replicas_without_their_mean_push_the_first(tmp_path):
  _, job = _compile(
    tmp_path, run={'num_replicas': 2, 'serve_replica_mean': False}
  )
  edges = _edges(_spec_of(job))
  assert 'ReplicaMean' not in edges
  assert edges['ReplicaReport'] == ['Trainer', 'Trainer_01']
  assert edges['Pusher'] == ['Evaluator', 'Trainer']


def test_a_recipe_dataset_must_be_made_locally_first(tmp_path):
  with pytest.raises(runner.InputError, match='demo_reads.json') as raised:
    _compile(tmp_path, run={'dataset': 'demo_reads'})
  assert '--input_dir' in str(raised.value)
  assert not (tmp_path / 'root').exists()
