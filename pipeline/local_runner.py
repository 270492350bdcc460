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
import itertools
import json
import os
import signal
import sys
from typing import Dict
from typing import List
from typing import Optional

from absl import app
from absl import logging

# First, before anything imports TensorFlow: sets its native log level.
from pipeline import console  # isort: skip
import tensorflow as tf
from tfx import v1 as tfx

from components.config import keys
from components.data import data_contract
from components.data import fastq_dataset
from components.data import record_check
from components.data.fastq import read_stats
from components.data.fastq import records as fastq_records
from components.design import designer
from components.design import designer_component
from components.evaluation import validation_messages
from components.training import stability
from pipeline import beam_runners
from pipeline import configs
from pipeline import interrupted_runs
from pipeline import pipeline as pipeline_lib
from pipeline import playbook_vars
from pipeline import run_lock
from pipeline import run_options
from pipeline import simulated_datasets
from schema import experiment as experiment_lib
from schema import identifiability
from simulation import oracle
from tools import design_truth
from tools import run_artifacts
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
  kind = run_options.dataset_kind(options, input_dir)
  experiment_pbtxt = load_dataset_experiment(input_dir, kind)
  if kind == fastq_dataset.FASTQ:
    print(
      f'{input_dir}: FASTQ reads (FastqExampleGen filters, counts, clusters)'
    )
  config = run_options.pipeline_config(options)
  if config.latent_affinity:
    experiment = experiment_lib.parse_experiment(experiment_pbtxt, input_dir)
    for line in identifiability.summary_lines(experiment):
      print(line)
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
    fastq=kind == fastq_dataset.FASTQ,
  )


def latest_examples(options: RunOptions):
  """The run's ingested Examples: its ExampleGen's latest output."""
  for node in configs.EXAMPLE_GEN_NODES:
    examples = latest_artifact(options, 'Examples', node)
    if examples is not None:
      return examples
  return None


def latest_pushed_model(options: RunOptions) -> str | None:
  """The newest model the Pusher wrote, or None if nothing was pushed."""
  versions = sorted(glob.glob(os.path.join(options.serving_model_dir, '*')))
  return versions[-1] if versions else None


def latest_artifact(options: RunOptions, type_name: str, producer: str):
  """The newest artifact of a type that node `producer` output, or None.

  Looked up in the run's MLMD (`tools.run_artifacts`): the output of the
  node's latest COMPLETE or CACHED execution, so a run served from the cache
  finds the artifact it reused.
  """
  return run_artifacts.latest_output(
    options.metadata_path,
    configs.PIPELINE_NAME,
    producer,
    type_name=type_name,
  )


def held_out_examples(options: RunOptions) -> List[bytes]:
  """The latest `test` split (held-out clusters) the Evaluator saw.

  StructureFeatures' output when this run folds sequences (the examples
  then carry the structure features), the ExampleGen's otherwise.
  """
  examples = None
  if run_options.structure(options) is not None:
    examples = latest_artifact(options, 'Examples', 'StructureFeatures')
  examples = examples or latest_examples(options)
  if examples is None:
    raise InputError(f'{options.metadata_path}: no ExampleGen output')
  split_dir = os.path.join(examples.uri, f'Split-{keys.TEST_SPLIT}')
  return truth_scoring.read_examples(split_dir)


def latest_blessing(options: RunOptions) -> bool | None:
  blessing = latest_artifact(options, 'ModelBlessing', 'Evaluator')
  if blessing is None:
    return None
  return blessing.custom_properties['blessed'].int_value == 1


def trainer_model_runs(
  options: RunOptions, num_replicas: Optional[int] = None
) -> Dict[str, str]:
  """Trainer node id -> the URI of its latest model_run, in replica order.

  Args:
    options: the run's options.
    num_replicas: the Trainers to look up ('Trainer', 'Trainer_01', ...,
      as pipeline/stages.py names them); None: every one found, up to the
      first missing id.
  """
  runs = {}
  replicas = itertools.count() if num_replicas is None else range(num_replicas)
  for k in replicas:
    node_id = 'Trainer' if k == 0 else f'Trainer_{k:02d}'
    artifact = latest_artifact(options, 'ModelRun', node_id)
    if artifact is None:
      if num_replicas is None:
        break
      continue
    runs[node_id] = artifact.uri
  return runs


def read_stability(model_run_dir: str) -> Optional[Dict]:
  """A model_run's stability.json, or None (runs made before it had none)."""
  path = os.path.join(model_run_dir, stability.STABILITY_FILENAME)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def stability_lines(model_runs: Dict[str, str]) -> List[str]:
  """One console line per Trainer whose stability.json has findings."""
  lines = []
  for node_id, model_run in model_runs.items():
    record = read_stability(model_run)
    if record and record.get('findings'):
      path = os.path.join(model_run, stability.STABILITY_FILENAME)
      lines.append(stability.summary_line(node_id, record, path))
  return lines


def make_simulated_dataset(options: RunOptions) -> None:
  """Simulates the --dataset from its recipe if it is one and not yet made.

  Raises:
    InputError: the recipe is unusable or the simulator does not reproduce
      it.
  """
  recipe = run_options.dataset_recipe(options)
  if not recipe:
    return
  try:
    simulated_datasets.ensure(recipe, options.save_base)
  except simulated_datasets.SimulatedDatasetError as e:
    raise InputError(f'--dataset={options.dataset}: {e}') from e


def run(options: RunOptions) -> None:
  """Runs the pipeline, then reports where its outputs are.

  The console gets a line per component and what the components print; the
  full log goes to <run dir>/logs/run.log (`--verbosity=1`: to both).
  """
  options = options.with_vars()
  check_run_dir_name(options)
  check_writable(options)
  with console.routed(options.run_dir, options.verbosity):
    make_simulated_dataset(options)
    pipeline = build_pipeline(options)
    # One run at a time per run directory (its MLMD and serving directory).
    with run_lock.hold(options.run_dir):
      for line in interrupted_runs.recover(
        options.metadata_path, options.pipeline_root
      ):
        print(line)
      print(
        f'Running pipeline {pipeline.pipeline_info.pipeline_name!r} into '
        f'{options.run_dir}'
      )
      # A gzip file cut at a record boundary reads as a shorter valid file
      # in Beam: check every input's stream before ingesting, so none is
      # silently half-read.
      bad = record_check.first_silent_problem(
        tf.io.gfile.glob(
          run_options.join_uri(
            resolve_input_dir(options), configs.EXAMPLES_PATTERN
          )
        )
      )
      if bad is not None:
        raise InputError(bad.describe())
      try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
      except Exception as e:
        _diagnose_unreadable_input(options, e)
        raise
      report(options)


def _diagnose_unreadable_input(options: RunOptions, error: Exception) -> None:
  """Raises InputError naming the broken input file behind `error`, if any.

  ImportExampleGen reports a corrupt TFRecord without naming the file; only
  after such a failure are the input files read again, one by one.
  """
  if not record_check.is_read_error(error):
    return
  pattern = run_options.join_uri(
    resolve_input_dir(options), configs.EXAMPLES_PATTERN
  )
  bad = record_check.first_bad_record(tf.io.gfile.glob(pattern))
  if bad is not None:
    raise InputError(bad.describe()) from error


# Beam and TFX read their outputs back by file pattern under the run
# directory, so a path holding one of these fails late and obscurely (Beam:
# "src and dst files do not exist" after the first component).
_PATTERN_CHARACTERS = '*?[]{}'


def check_run_dir_name(options: RunOptions) -> None:
  """Raises InputError if the run directory's path has a glob character."""
  for flag in ('save_base', 'run_name'):
    value = getattr(options, flag)
    found = sorted({c for c in value if c in _PATTERN_CHARACTERS})
    if found:
      raise InputError(
        f'--{flag}={value}: contains {" ".join(found)}, which Beam and TFX '
        'read as file-pattern characters under the run directory; use '
        'letters, digits, and - _ . , = instead'
      )


def check_writable(options: RunOptions) -> None:
  """Raises InputError unless the run directory can be created or written.

  Checks the deepest existing ancestor without creating anything, so a run
  that is refused leaves no directory behind.
  """
  path = os.path.abspath(options.run_dir)
  while not os.path.exists(path):
    path = os.path.dirname(path)
  if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
    raise InputError(
      f'--save_base={options.save_base}: cannot write the run directory '
      f'{options.run_dir} ({path} is not a writable directory); choose a '
      'writable --save_base'
    )


def report(options: RunOptions) -> None:
  """Prints the outputs of a finished run (and the truth score if known)."""
  pushed = latest_pushed_model(options)
  print('\nOutputs:')
  print(f'  pipeline artifacts: {options.pipeline_root}')
  print(f'  ML Metadata:        {options.metadata_path}')
  blessed = latest_blessing(options)
  print(f'  latest evaluation:  {"BLESSED" if blessed else "NOT blessed"}')
  evaluation = latest_artifact(options, 'ModelEvaluation', 'Evaluator')
  if blessed is False and evaluation is not None:
    # Which gate failed, naming the output (and the molecule judged).
    for line in validation_messages.evaluation_failures(evaluation.uri):
      print(f'    failed: {line}')
  print(f'  pushed model:       {pushed or "none (no model was blessed)"}')
  for line in stability_lines(
    trainer_model_runs(options, options.num_replicas)
  ):
    print(line)
  # Simulated datasets carry their truth beside the examples.
  dataset = resolve_input_dir(options)
  if pushed and os.path.exists(
    os.path.join(dataset, truth_scoring.TRUTH_FILENAME)
  ):
    scores = truth_scoring.score_run(
      options.run_dir, dataset_dir=dataset, model_dir=pushed
    )
    print("\nPushed model against the simulator's truth (test clusters):")
    for score in scores.scores:
      print('  ' + score.describe())
    print(
      f'  more: .venv/bin/aptamer-tfx truth-score {options.run_dir} --unseen'
    )
  if blessed and options.design:
    report_designs(options, dataset)


def report_designs(options: RunOptions, dataset: str) -> None:
  """Prints the Designer's output (and, on simulated data, its truth)."""
  designs = latest_artifact(
    options, designer_component.Designs.TYPE_NAME, 'Designer'
  )
  summary_path = designs and os.path.join(designs.uri, designer.SUMMARY_JSON)
  if not summary_path or not os.path.exists(summary_path):
    return
  with open(summary_path) as f:
    summary = json.load(f)
  print(f'\nDesigns: {designs.uri}')
  for line in designer.summary_lines(summary):
    print(line)
  if os.path.exists(os.path.join(dataset, oracle.TRUTH_MODEL_FILENAME)):
    print("\nDesigns against the simulator's truth:")
    for line in design_truth.format_lines(
      design_truth.judge(designs.uri, dataset)
    ):
      print(line)


_FLAGS = {}

# What the user can fix: one line and exit status 2. Anything else is a bug
# (or an environment failure) and keeps its traceback, exit status 1.
USER_ERRORS = (
  InputError,
  playbook_vars.VarsError,
  experiment_lib.ExperimentError,
  data_contract.DataContractError,
  run_lock.RunLockedError,
  fastq_records.FastqError,
  read_stats.LowPassRateError,
)


class RunInterrupted(KeyboardInterrupt):
  """SIGTERM, turned into an exception so that clean-up code runs."""


def _raise_interrupted(signum, frame):
  del frame
  raise RunInterrupted(signal.Signals(signum).name)


def main(argv):
  del argv
  signal.signal(signal.SIGTERM, _raise_interrupted)
  try:
    run(run_options.from_flags(_FLAGS))
  except USER_ERRORS as e:
    logging.error('%s', e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt as e:
    name = str(e) or 'SIGINT'
    print(
      f'interrupted by {name}; components that finished are in the cache: '
      'run the same command again to resume from there',
      file=sys.stderr,
    )
    sys.exit(128 + getattr(signal, name, signal.SIGINT))


if __name__ == '__main__':
  _FLAGS.update(run_options.define_flags())
  logging.set_verbosity(logging.INFO)
  app.run(main)
