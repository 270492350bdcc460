"""Trainer input throughput: TFX data path versus in-memory numpy arrays.

Trains the manuscript's Counts configuration (3 conv + 3 FC layers,
LATENT_AFFINITY, SQUARED_ERROR, one-hot + k-mer inputs, minibatch 64) twice
in one process on the same training examples of the demo dataset:

  * pipeline: the Trainer's own datasets (`run_setup.prepare_data`:
    Transform output read through the TFX DataAccessor, preprocessing,
    batching), as `run_fn` trains;
  * baseline: the same Keras model fed the same examples from numpy arrays
    already in memory (`model.fit(x, y)`), the bare lower bound of input
    cost.

Each is trained with one step per execution and with the configured
`--steps_per_execution` (the Trainer's default, 32): the same updates, one
call of the compiled training function per that many steps.

Reports training examples/second of each, the input ratio pipeline /
baseline at the same steps per execution (target >= 0.8), and the speed-up
of several steps per execution over one, for both.
The first run of the script executes the pipeline up to Transform into
`--work_dir` (cached afterwards). `--nocache_training_data` measures the
pipeline's path as the runner flag of that name sets it (for splits larger
than memory): every epoch reads and preprocesses the split again.

Usage: python benchmarks/trainer_throughput.py [--epochs 5] [--work_dir DIR]
  [--nocache_training_data] [--steps_per_execution 32]
"""

import argparse
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx.components.trainer import fn_args_utils  # noqa: E402
from tfx.orchestration import pipeline as tfx_pipeline  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402

from components.config import keys  # noqa: E402
from components.config import training as training_lib  # noqa: E402
from components.training import run_setup  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import local_runner  # noqa: E402
from pipeline import run_options  # noqa: E402


def _transform_outputs(options):
  """Runs the pipeline up to Transform (cached) and returns its outputs."""
  pipeline = local_runner.build_pipeline(options)
  tfx.orchestration.LocalDagRunner().run(
    pipeline,
    run_options=tfx_pipeline.RunOptions(to_nodes=['Transform']),
  )
  root = os.path.join(options.pipeline_root, 'Transform')

  def latest(output):
    path = os.path.join(root, output)
    return os.path.join(path, max(os.listdir(path), key=int))

  return latest('transformed_examples'), latest('transform_graph')


def _fn_args(examples_uri, graph_uri, custom_config):
  examples = standard_artifacts.Examples()
  examples.uri = examples_uri
  examples.split_names = json.dumps([keys.TRAIN_SPLIT, keys.VALIDATION_SPLIT])
  graph = standard_artifacts.TransformGraph()
  graph.uri = graph_uri
  return fn_args_utils.get_common_fn_args(
    {'examples': [examples], 'transform_graph': [graph]},
    {
      'train_args': json.dumps({'splits': [keys.TRAIN_SPLIT]}),
      'eval_args': json.dumps({'splits': [keys.VALIDATION_SPLIT]}),
      'custom_config': json.dumps(custom_config),
    },
  )


def _seconds(model, **fit_kwargs):
  start = time.perf_counter()
  model.fit(epochs=1, verbose=0, **fit_kwargs)
  return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--epochs', type=int, default=5)
  parser.add_argument(
    '--work_dir', default=os.path.join(configs.REPO_ROOT, 'output', 'bench')
  )
  parser.add_argument(
    '--nocache_training_data',
    dest='cache_training_data',
    action='store_false',
    help='Re-read the training split every epoch, as the runner flag does.',
  )
  parser.add_argument(
    '--steps_per_execution',
    type=int,
    default=training_lib.TrainingConfig().steps_per_execution,
    help='Steps per execution compared with one step per execution.',
  )
  args = parser.parse_args()

  preset = dict(configs.PRESETS['counts'])
  # Whole-split epochs.
  preset.update(
    epoch_size=0,
    epochs=args.epochs,
    cache_training_data=args.cache_training_data,
  )
  options = run_options.RunOptions(
    save_base=args.work_dir, run_name='trainer-throughput', **preset
  )
  experiment_pbtxt = local_runner.load_dataset_experiment(
    local_runner.resolve_input_dir(options)
  )
  custom_config = (
    run_options.pipeline_config(options)
    .run_config(experiment_pbtxt)
    .to_custom_config()
  )
  examples_uri, graph_uri = _transform_outputs(options)
  fn_args = _fn_args(examples_uri, graph_uri, custom_config)
  run = run_setup.setup(custom_config)
  import tensorflow_transform as tft

  data = run_setup.prepare_data(fn_args, tft.TFTransformOutput(graph_uri), run)

  # The baseline sees exactly the examples the pipeline trains on.
  xs, ys = [], []
  for x, y in data.train.as_numpy_iterator():
    xs.append(x)
    ys.append(y)
  x = {k: np.concatenate([b[k] for b in xs]) for k in xs[0]}
  y = np.concatenate(ys)
  num_examples = len(y)

  def compiled(steps_per_execution):
    keras.utils.set_random_seed(0)
    return run_setup.build_and_compile(run, steps_per_execution)[1]

  many = args.steps_per_execution
  runs = {}
  for steps in sorted({1, many}):
    pipeline_model, baseline_model = compiled(steps), compiled(steps)
    runs[('pipeline', steps)] = functools.partial(
      _seconds, pipeline_model, x=data.train
    )
    runs[('baseline', steps)] = functools.partial(
      _seconds,
      baseline_model,
      x=x,
      y=y,
      batch_size=run.training.mbsz,
      shuffle=True,
    )
  for measure in runs.values():
    measure()  # Warm-up: tracing, and the pipeline's first (caching) pass.
  # Alternate one-epoch runs so load from elsewhere hits all alike.
  seconds = {key: [] for key in runs}
  for _ in range(args.epochs):
    for key, measure in runs.items():
      seconds[key].append(measure())
  rate = {key: num_examples / np.median(s) for key, s in seconds.items()}
  print(
    f'\nCounts configuration, {num_examples} training examples, '
    f'{args.epochs} alternating epochs each (median), minibatch '
    f'{run.training.mbsz}, cache_training_data '
    f'{run.training.cache_training_data}, load average '
    f'{os.getloadavg()[0]:.2f}'
  )
  print(
    '| input | steps per execution | examples/s | ratio to the baseline '
    '(same steps) |\n|---|---|---|---|'
  )
  names = {
    'baseline': 'numpy arrays in memory (baseline)',
    'pipeline': 'Trainer datasets (TFX DataAccessor)',
  }
  for (name, steps), value in sorted(rate.items(), key=lambda kv: kv[0][1]):
    ratio = value / rate[('baseline', steps)]
    print(f'| {names[name]} | {steps} | {value:,.0f} | {ratio:.2f} |')
  print(
    f'input ratio pipeline / baseline at {many} steps per execution: '
    f'{rate[("pipeline", many)] / rate[("baseline", many)]:.2f} '
    '(target >= 0.8)'
  )
  if many != 1:
    print(
      f'speed-up of {many} steps per execution over 1: pipeline '
      f'{rate[("pipeline", many)] / rate[("pipeline", 1)]:.2f}x, baseline '
      f'{rate[("baseline", many)] / rate[("baseline", 1)]:.2f}x'
    )


if __name__ == '__main__':
  main()
