"""Every task of the compiled oss spec, run in the locally built image.

`kfp_spec_harness` executes the spec as the open-source backend would
(ExecutorInput, trigger conditions, the containers' own commands), on a
tiny dataset with a 2-combination sweep (1 trial each) and 2 replicas, so
the parallel branches, the fan-ins, the serving-directory baseline and the
Pusher's condition all run from the spec, in the image. Then the baseline
task alone runs again, as the next run would, and finds that push.
"""

import glob
import importlib.util
import json
import os

import kfp_spec_harness
import pytest
import test_image

from components.evaluation import pushed_baseline
from pipeline import configs
from pipeline import run_options
from simulation import scenarios
from simulation import simulator
from simulation import writer

_RUNNER_PATH = os.path.join(
  configs.REPO_ROOT, 'kubeflow', 'kubeflow_v2_runner.py'
)
_spec = importlib.util.spec_from_file_location(
  'kubeflow_v2_runner', _RUNNER_PATH
)
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

# A tiny sweep: 2 combinations x 1 trial, then 2 replicas of the winner.
RUN = dict(
  run_name='spec',
  epochs=1,
  tuner_loss='loss',
  design=False,
  min_auc_true_top_1p=0.0,
  min_affinity_auc=0.0,
  min_affinity_spearman=-1.0,
  vars='num_fc_layers=0,num_conv_layers=0,autotune=true',
  tuner_trials=1,
  num_replicas=2,
  sweep_output_layers='LATENT_AFFINITY,LATENT_WITH_DEPS',
  sweep_loss_names='SQUARED_ERROR',
)

SWEEP_TASKS = {
  'Tuner_00',
  'Tuner_01',
  'SweepSelector',
  'Trainer',
  'Trainer_01',
  'ReplicaReport',
}


def write_tiny_dataset(directory: str) -> str:
  """A small demo-design selection whose test split defines every metric."""
  result = simulator.simulate(
    scenarios.configure('demo', num_families=400, depth=4000)
  )
  writer.write_dataset(result, directory)
  return directory


def compile_spec(tmp_path, data_dir, image, **run):
  """Compiles the oss flavour for `data_dir`; returns (spec path, root)."""
  root = str(tmp_path / 'root')
  # As the runner's flags give them: --vars applied.
  options = run_options.RunOptions(
    input_dir=data_dir, **{**RUN, **run}
  ).with_vars()
  kf = runner.KubeflowOptions(
    pipeline_root=root,
    image=image,
    beam_runner='in_memory',
    output_file=str(tmp_path / 'pipeline.yaml'),
    kfp_backend='oss',
  )
  return runner.compile_pipeline(options, kf), root


@pytest.fixture(scope='module')
def image():
  """The test image (kubeflow/test_image/build.sh builds or reuses it)."""
  return test_image.build()


def _runner():
  return kfp_spec_harness.engine_runner(test_image.ENGINE, test_image.RUN_ARGS)


def _run(spec_path, root, data_dir, run_id):
  executor = kfp_spec_harness.SpecExecutor(
    kfp_spec_harness.load_spec(spec_path),
    root,
    _runner(),
    mounts=[data_dir],
    run_id=run_id,
    progress=kfp_spec_harness.print_progress,
  )
  return executor, executor.run()


@pytest.mark.e2e
def test_every_task_runs_from_the_spec_in_the_image(tmp_path, image):
  data_dir = write_tiny_dataset(str(tmp_path / 'data'))
  spec_path, root = compile_spec(tmp_path, data_dir, image)
  spec = kfp_spec_harness.load_spec(spec_path)
  assert SWEEP_TASKS <= set(spec.root.dag.tasks)

  first, results = _run(spec_path, root, data_dir, 'run-1')
  statuses = {name: r.status for name, r in results.items()}
  assert statuses == {name: 'succeeded' for name in spec.root.dag.tasks}
  blessing = first.outputs['Evaluator']['blessing'][0]
  assert blessing.metadata['blessed'] == 1.0
  baseline = first.outputs['PushedModelBaseline']['baseline_model'][0]
  assert baseline.metadata[pushed_baseline.SOURCE_PROPERTY] == (
    pushed_baseline.FROM_CANDIDATE
  )
  serving = (
    spec.root.dag.tasks['PushedModelBaseline']
    .inputs.parameters['serving_model_dir']
    .runtime_value.constant.string_value
  )
  (pushed,) = glob.glob(os.path.join(serving, '*', 'saved_model.pb'))
  # The sweep ran both combinations and the replicas trained the winner.
  selector = first.outputs['SweepSelector']['best_hyperparameters'][0]
  with open(os.path.join(selector.uri, 'best_hyperparameters.txt')) as f:
    chosen = json.load(f)['values']['output_layer']
  for trainer in ('Trainer', 'Trainer_01'):
    run_dir = first.outputs[trainer]['model_run'][0].uri
    with open(os.path.join(run_dir, 'hparams.json')) as f:
      assert json.load(f)['output_layer'] == chosen

  # The next run's baseline is the model the first run pushed (only that
  # task runs again, on the first run's candidate).
  second = kfp_spec_harness.SpecExecutor(spec, root, _runner(), run_id='run-2')
  second.outputs.update(first.outputs)
  second.run(only=['PushedModelBaseline'])
  baseline = second.outputs['PushedModelBaseline']['baseline_model'][0]
  assert baseline.metadata[pushed_baseline.SOURCE_PROPERTY] == (
    pushed_baseline.FROM_PUSHED
  )
  assert baseline.metadata[pushed_baseline.VERSION_PROPERTY] == (
    os.path.basename(os.path.dirname(pushed))
  )
