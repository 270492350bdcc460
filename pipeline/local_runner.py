"""Runs the pipeline locally: LocalDagRunner + the Beam DirectRunner.

Flags follow the original playbook (`--save_base`, `--run_name`, `--epochs`,
`--epoch_size`, `--eval_size`, `--num_fc_layers`, `--dataset`,
`--input_dir`). Outputs go under `<save_base>/<run_name>/`:

  pipeline/       artifacts of every component (TFX pipeline root)
  metadata.db     ML Metadata (SQLite): executions, artifacts, cache
  serving_model/  blessed models pushed by the Pusher, one per timestamp

Running the same command again reuses every unchanged component's result.
"""

import glob
import os
import sys
from typing import List

from absl import app
from absl import logging
from ml_metadata import metadata_store
from tfx import v1 as tfx

from components.data import data_contract
from pipeline import beam_runners
from pipeline import configs
from pipeline import pipeline as pipeline_lib
from pipeline import run_options
from schema import experiment as experiment_lib
from tools import truth_scoring

# The DirectRunner presets of pipeline/beam_runners.py.
LOCAL_BEAM_MODES = ('in_memory', 'multi_processing')
InputError = run_options.InputError
RunOptions = run_options.RunOptions
resolve_input_dir = run_options.resolve_input_dir
load_dataset_experiment = run_options.load_experiment_text


def local_beam_args(options: RunOptions):
  """DirectRunner arguments for --beam_mode (and --beam_num_workers)."""
  if options.beam_mode == 'multi_processing' and options.beam_num_workers:
    args = beam_runners.beam_pipeline_args(
      'multi_processing', direct_num_workers=options.beam_num_workers
    )
  else:
    args = beam_runners.beam_pipeline_args(options.beam_mode)
  return beam_runners.with_local_dependencies(args)


def build_pipeline(options: RunOptions) -> tfx.dsl.Pipeline:
  """The pipeline for these options (validates the dataset first)."""
  if options.beam_mode not in LOCAL_BEAM_MODES:
    raise InputError(
      f'--beam_mode must be one of {LOCAL_BEAM_MODES}, got '
      f'{options.beam_mode!r}'
    )
  input_dir = resolve_input_dir(options)
  experiment_pbtxt = load_dataset_experiment(input_dir)
  config = run_options.pipeline_config(options)
  return pipeline_lib.create_pipeline(
    pipeline_name=configs.PIPELINE_NAME,
    pipeline_root=options.pipeline_root,
    data_root=input_dir,
    experiment_pbtxt=experiment_pbtxt,
    serving_model_dir=options.serving_model_dir,
    beam_pipeline_args=local_beam_args(options),
    metadata_connection_config=(
      tfx.orchestration.metadata.sqlite_metadata_connection_config(
        options.metadata_path
      )
    ),
    config=config,
    enable_cache=options.enable_cache,
  )


def latest_pushed_model(options: RunOptions) -> str | None:
  """The newest model the Pusher wrote, or None if nothing was pushed."""
  versions = sorted(glob.glob(os.path.join(options.serving_model_dir, '*')))
  return versions[-1] if versions else None


def latest_artifact(options: RunOptions, type_name: str, producer: str):
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


def held_out_examples(options: RunOptions) -> List[bytes]:
  """The latest `eval` split (held-out clusters) the Evaluator saw.

  StructureFeatures' output when this run folds sequences (the examples
  then carry the structure features), ImportExampleGen's otherwise.
  """
  examples = None
  if run_options.structure(options) is not None:
    examples = latest_artifact(options, 'Examples', 'StructureFeatures')
  examples = examples or latest_artifact(
    options, 'Examples', 'ImportExampleGen'
  )
  if examples is None:
    raise InputError(f'{options.metadata_path}: no ImportExampleGen output')
  split_dir = os.path.join(examples.uri, 'Split-eval')
  return truth_scoring.read_examples(split_dir)


def latest_blessing(options: RunOptions) -> bool | None:
  blessing = latest_artifact(options, 'ModelBlessing', 'Evaluator')
  if blessing is None:
    return None
  return blessing.custom_properties['blessed'].int_value == 1


def run(options: RunOptions) -> None:
  """Runs the pipeline, then reports where its outputs are."""
  options = options.with_vars()
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
    result = truth_scoring.score(pushed, held_out_examples(options), truth)
    print("\nPushed model against the simulator's truth (held-out clusters):")
    print('  ' + result.describe())


_FLAGS = {}


def main(argv):
  del argv
  try:
    run(run_options.from_flags(_FLAGS))
  except (
    InputError,
    ValueError,
    experiment_lib.ExperimentError,
    data_contract.DataContractError,
  ) as e:
    logging.error('%s', e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  _FLAGS.update(run_options.define_flags())
  logging.set_verbosity(logging.INFO)
  app.run(main)
