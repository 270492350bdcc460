"""Runs the pipeline locally: LocalDagRunner + the Beam DirectRunner.

Flags follow the original playbook (`--save_base`, `--run_name`, `--epochs`,
`--epoch_size`, `--eval_size`, `--num_fc_layers`, `--dataset`,
`--input_dir`). Outputs go under `<save_base>/<run_name>/`:

  pipeline/       artifacts of every component (TFX pipeline root)
  metadata.db     ML Metadata (SQLite): executions, artifacts, cache
  serving_model/  blessed models pushed by the Pusher, one per timestamp

Running the same command again reuses every unchanged component's result.
"""

import dataclasses
import glob
import os
import sys
from typing import Dict
from typing import List

from absl import app
from absl import flags
from absl import logging
from ml_metadata import metadata_store
from tfx import v1 as tfx

from components import data_contract
from pipeline import configs
from pipeline import pipeline as pipeline_lib
from pipeline import truth_scoring
from schema import experiment as experiment_lib


class InputError(ValueError):
  """The dataset or the run options are unusable."""


@dataclasses.dataclass
class RunOptions:
  """Everything a local run needs; the flags map one to one onto it."""

  save_base: str = os.path.join(configs.REPO_ROOT, 'output')
  run_name: str = 'demo'
  dataset: str = 'demo'
  input_dir: str = ''
  epochs: int = 10
  epoch_size: int = 0
  eval_size: int = 0
  mbsz: int = 128
  seed: int = 0
  num_fc_layers: int = 1
  num_conv_layers: int = 2
  learn_rate: float = 0.001
  optimizer: str = 'adam'
  min_auc_true_top_1p: float = configs.DEFAULT_MIN_AUC_TRUE_TOP_1P
  tuner_trials: int = 0
  tuner_loss: str = 'auc/true_top_1p'
  beam_mode: str = 'in_memory'
  enable_cache: bool = True

  @property
  def run_dir(self) -> str:
    return os.path.join(self.save_base, self.run_name)

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.run_dir, 'pipeline')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.run_dir, 'metadata.db')

  @property
  def serving_model_dir(self) -> str:
    return os.path.join(self.run_dir, 'serving_model')

  def hparams(self) -> Dict:
    """Network hyper-parameters; with a search, only the layer counts (the
    meta-parameters), so the learning rate is searched, not pinned."""
    meta = {
      'num_fc_layers': self.num_fc_layers,
      'num_conv_layers': self.num_conv_layers,
    }
    if self.tuner_trials:
      return meta
    return {**meta, 'learn_rate': self.learn_rate, 'optimizer': self.optimizer}


def resolve_input_dir(options: RunOptions) -> str:
  """`--input_dir` if given, else the registered dataset's directory."""
  if options.input_dir:
    return options.input_dir
  if options.dataset not in configs.DATASETS:
    raise InputError(
      f'--dataset={options.dataset!r} is not registered; known datasets: '
      f'{sorted(configs.DATASETS)} (or pass --input_dir)'
    )
  return configs.DATASETS[options.dataset].input_dir


def load_dataset_experiment(input_dir: str) -> str:
  """Checks a dataset directory and returns its experiment text.

  Raises:
    InputError: the directory, its experiment or its examples are missing.
    schema.experiment.ExperimentError: the experiment is invalid.
  """
  if not os.path.isdir(input_dir):
    raise InputError(f'{input_dir}: dataset directory not found')
  path = os.path.join(input_dir, experiment_lib.EXPERIMENT_FILENAME)
  experiment_lib.load_experiment(path)  # Fails early, naming the file.
  if not glob.glob(os.path.join(input_dir, configs.EXAMPLES_PATTERN)):
    raise InputError(
      f'{input_dir}: no TFRecord examples matching {configs.EXAMPLES_PATTERN!r}'
    )
  with open(path) as f:
    return f.read()


def build_pipeline(options: RunOptions) -> tfx.dsl.Pipeline:
  """The pipeline for these options (validates the dataset first)."""
  if options.beam_mode not in configs.BEAM_PIPELINE_ARGS_BY_RUNNER:
    raise InputError(
      f'--beam_mode must be one of '
      f'{sorted(configs.BEAM_PIPELINE_ARGS_BY_RUNNER)}, got '
      f'{options.beam_mode!r}'
    )
  input_dir = resolve_input_dir(options)
  experiment_pbtxt = load_dataset_experiment(input_dir)
  return pipeline_lib.create_pipeline(
    pipeline_name=configs.PIPELINE_NAME,
    pipeline_root=options.pipeline_root,
    data_root=input_dir,
    experiment_pbtxt=experiment_pbtxt,
    serving_model_dir=options.serving_model_dir,
    hparams=options.hparams(),
    epochs=options.epochs,
    epoch_size=options.epoch_size,
    eval_size=options.eval_size,
    mbsz=options.mbsz,
    seed=options.seed,
    min_auc_true_top_1p=options.min_auc_true_top_1p,
    tuner_trials=options.tuner_trials,
    tuner_loss=options.tuner_loss,
    beam_pipeline_args=configs.BEAM_PIPELINE_ARGS_BY_RUNNER[options.beam_mode],
    metadata_connection_config=(
      tfx.orchestration.metadata.sqlite_metadata_connection_config(
        options.metadata_path
      )
    ),
    enable_cache=options.enable_cache,
  )


def latest_pushed_model(options: RunOptions) -> str | None:
  """The newest model the Pusher wrote, or None if nothing was pushed."""
  versions = sorted(glob.glob(os.path.join(options.serving_model_dir, '*')))
  return versions[-1] if versions else None


def _latest_artifact(options: RunOptions, type_name: str, producer: str):
  """The newest artifact of a type that component `producer` wrote."""
  config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
    options.metadata_path
  )
  store = metadata_store.MetadataStore(config)
  # Artifacts live under <pipeline_root>/<component id>/<output key>/<id>.
  prefix = os.path.join(options.pipeline_root, producer) + os.sep
  candidates = [
    a
    for a in store.get_artifacts_by_type(type_name)
    if a.uri.startswith(prefix)
  ]
  return max(candidates, key=lambda a: a.id) if candidates else None


def held_out_sequences(options: RunOptions) -> List[str]:
  """Sequences of the latest ExampleGen `eval` split (held-out clusters)."""
  examples = _latest_artifact(options, 'Examples', 'ImportExampleGen')
  if examples is None:
    raise InputError(f'{options.metadata_path}: no ImportExampleGen output')
  split_dir = os.path.join(examples.uri, 'Split-eval')
  return truth_scoring.read_sequences(split_dir)


def latest_blessing(options: RunOptions) -> bool | None:
  blessing = _latest_artifact(options, 'ModelBlessing', 'Evaluator')
  if blessing is None:
    return None
  return blessing.custom_properties['blessed'].int_value == 1


def run(options: RunOptions) -> None:
  """Runs the pipeline, then reports where its outputs are."""
  pipeline = build_pipeline(options)
  print(
    f'Running pipeline {pipeline.pipeline_info.pipeline_name!r} into '
    f'{options.run_dir}'
  )
  tfx.orchestration.LocalDagRunner().run(pipeline)
  report(options)


def report(options: RunOptions) -> None:
  """Prints the outputs of a finished run (and the truth score if known)."""
  pushed = latest_pushed_model(options)
  print('\nOutputs:')
  print(f'  pipeline artifacts: {options.pipeline_root}')
  print(f'  ML Metadata:        {options.metadata_path}')
  blessed = latest_blessing(options)
  print(f'  latest evaluation:  {"BLESSED" if blessed else "NOT blessed"}')
  print(f'  pushed model:       {pushed or "none (no model was blessed)"}')
  # Simulated datasets carry their truth beside the examples.
  truth = os.path.join(resolve_input_dir(options), truth_scoring.TRUTH_FILENAME)
  if pushed and os.path.exists(truth):
    sequences = held_out_sequences(options)
    result = truth_scoring.score(pushed, sequences, truth)
    print("\nPushed model against the simulator's truth (held-out clusters):")
    print('  ' + result.describe())


_FLAGS = {}
_SIZE_FLAGS = ('epoch_size', 'eval_size')


def _define_flags():
  defaults = RunOptions()
  helps = {
    'save_base': 'Base directory of all runs.',
    'run_name': 'Unique run name; outputs go to <save_base>/<run_name>.',
    'dataset': f'Registered dataset: {sorted(configs.DATASETS)}.',
    'input_dir': 'Dataset directory (experiment.pbtxt + TFRecords); '
    'overrides --dataset.',
    'epochs': 'Training epochs (no early stopping).',
    'epoch_size': 'Examples per epoch; 0 = the whole training split.',
    'eval_size': 'Validation examples evaluated per epoch; 0 = all.',
    'mbsz': 'Minibatch size.',
    'seed': 'Random seed of the training run.',
    'num_fc_layers': 'Hidden fully connected layers.',
    'num_conv_layers': 'Convolutional layers.',
    'learn_rate': 'Learning rate (the original defaulted to 0.005 with '
    'momentum).',
    'optimizer': "'adam' or 'momentum' (SGD, momentum 0.9: the original's "
    'default, slower to converge on the demo).',
    'min_auc_true_top_1p': 'Blessing threshold: mean over read outputs of '
    'auc/true_top_1p on the held-out clusters (0.5 = chance).',
    'tuner_trials': 'KerasTuner random-search trials before training over '
    'the original ranges (layer counts fixed); 0 = no search.',
    'tuner_loss': "Search objective: 'auc/true_top_1p' (validation mean, "
    "maximised) or 'loss' (validation loss, minimised).",
    'beam_mode': f'DirectRunner preset: '
    f'{sorted(configs.BEAM_PIPELINE_ARGS_BY_RUNNER)}.',
    'enable_cache': 'Reuse results of unchanged components.',
  }
  for field in dataclasses.fields(RunOptions):
    default = getattr(defaults, field.name)
    if field.name in _SIZE_FLAGS:
      # The playbook writes sizes as `--epoch_size=1e6`.
      _FLAGS[field.name] = flags.DEFINE_float(
        field.name, default, helps[field.name]
      )
      continue
    define = {
      bool: flags.DEFINE_bool,
      int: flags.DEFINE_integer,
      float: flags.DEFINE_float,
      str: flags.DEFINE_string,
    }[field.type]
    _FLAGS[field.name] = define(field.name, default, helps[field.name])


def main(argv):
  del argv
  values = {name: flag.value for name, flag in _FLAGS.items()}
  for name in _SIZE_FLAGS:
    values[name] = int(values[name])
  try:
    run(RunOptions(**values))
  except (
    InputError,
    experiment_lib.ExperimentError,
    data_contract.DataContractError,
  ) as e:
    logging.error('%s', e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  _define_flags()
  logging.set_verbosity(logging.INFO)
  app.run(main)
