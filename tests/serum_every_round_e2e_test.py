"""Serum in every round: refused, corrected, rerun, and a combined affinity.

One module fixture simulates a small `serum_every_round` selection (serum as
background wherever the target is: their affinities are confounded), runs
the pipeline on a copy with a corrupted count, which must be refused, then
on the corrected file in the same run directory. The tests check the
reliability promise (the corrected rerun pushes exactly one model, and
MLMD's lineage runs from it back to the corrected examples) and the affinity
promise (the design's confounding is said before training, one combined
`affinity_target_vs_serum` is served, and it ranks unseen true binders far
above chance).
"""

import contextlib
import io
import json
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
import tensorflow as tf
from tfx import v1 as tfx

from components.data import data_contract
from components.design import designer
from components.design import designer_component
from pipeline import configs
from pipeline import local_runner
import simulation
from simulation import scenarios
from tools import design_truth
from tools import truth_scoring

Execution = metadata_store_pb2.Execution
_DONE = (Execution.COMPLETE, Execution.CACHED)


def _small_dataset(directory):
  """A small simulated selection that trains in a minute or two."""
  config = scenarios.configure(
    scenarios.SERUM_EVERY_ROUND,
    num_families=3000,
    seed=7,
    unseen_random=2000,
    unseen_seeds=20,
  )
  simulation.write_dataset(simulation.simulate(config), directory)
  (path,) = tf.io.gfile.glob(os.path.join(directory, '*.tfrecord.gz'))
  return path


def _write_with_negative_count(path, read):
  """Rewrites the examples with a -2 count of `read` in every 40th."""
  records = [r.numpy() for r in tf.data.TFRecordDataset(path, 'GZIP')]
  with tf.io.TFRecordWriter(path, 'GZIP') as writer:
    for i, record in enumerate(records):
      example = tf.train.Example.FromString(record)
      if i % 40 == 3:
        example.features.feature[read].int64_list.value[:] = [-2]
      writer.write(example.SerializeToString())


def _store(options):
  return metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(
      options.metadata_path
    )
  )


def _node_executions(store, node):
  """Executions of pipeline node `node`, oldest first."""
  context = store.get_context_by_type_and_name(
    'node', f'{configs.PIPELINE_NAME}.{node}'
  )
  executions = store.get_executions_by_context(context.id)
  return sorted(executions, key=lambda e: e.id)


def _artifacts(store, execution, event_type):
  ids = [
    e.artifact_id
    for e in store.get_events_by_execution_ids([execution.id])
    if e.type == event_type
  ]
  return store.get_artifacts_by_id(ids)


def _producer(store, artifact):
  """The execution that output `artifact`."""
  (event,) = [
    e
    for e in store.get_events_by_artifact_ids([artifact.id])
    if e.type == metadata_store_pb2.Event.OUTPUT
  ]
  (execution,) = store.get_executions_by_id([event.execution_id])
  return execution


def _upstream_example_gen(store, artifact):
  """The ImportExampleGen execution `artifact` descends from."""
  execution = _producer(store, artifact)
  while True:
    inputs = _artifacts(store, execution, metadata_store_pb2.Event.INPUT)
    examples = [a for a in inputs if a.type_id == _type_id(store, 'Examples')]
    if not examples:
      return execution
    execution = _producer(store, examples[0])


def _type_id(store, name):
  return store.get_artifact_type(name).id


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """The refused run and the corrected rerun, with what they printed."""
  tmp_path = tmp_path_factory.mktemp('serum_every_round')
  data = str(tmp_path / 'data')
  good = _small_dataset(data)
  with open(good, 'rb') as f:
    good_bytes = f.read()
  read = 'round2_high_positive'
  _write_with_negative_count(good, read)
  # Defaults, but for the count gate: at this size (half of the
  # benchmark's clusters, to keep CI short) the count fit is near 0.55; the
  # affinity gates, which this design is about, keep their defaults.
  options = local_runner.RunOptions(
    save_base=str(tmp_path / 'runs'),
    run_name='serum',
    input_dir=data,
    min_auc_true_top_1p=0.0,
    # A small design, by the combined latent this design serves.
    design_seeds=10,
    design_random_pool=2000,
    design_sampling_limit=200,
    design_max_trials=400,
  )
  with pytest.raises(data_contract.DataContractError) as refused:
    local_runner.run(options)
  refused_pushes = os.path.exists(options.serving_model_dir)
  # The user fixes the export and runs the same command again.
  with open(good, 'wb') as f:
    f.write(good_bytes)
  console = io.StringIO()
  with contextlib.redirect_stdout(console):
    local_runner.run(options)
  return {
    'options': options,
    'read': read,
    'refused': str(refused.value),
    'refused_pushes': refused_pushes,
    'console': console.getvalue(),
  }


@pytest.mark.e2e
def test_a_corrected_rerun_pushes_one_model_traced_to_the_fixed_data(runs):
  options = runs['options']
  assert f"feature '{runs['read']}' is negative" in runs['refused']
  assert not runs['refused_pushes']

  store = _store(options)
  checks = _node_executions(store, 'DataContractCheck')
  assert [e.last_known_state for e in checks] == [
    Execution.FAILED,
    Execution.COMPLETE,
  ]
  # Nothing downstream of the refused check ever ran.
  for node in ('Transform', 'Trainer', 'Evaluator', 'Pusher'):
    executions = _node_executions(store, node)
    assert len(executions) == 1, node
    assert executions[0].last_known_state in _DONE, node
  assert local_runner.latest_blessing(options) is True

  # One model pushed, and it is the Trainer's model of the corrected run.
  pushed = os.listdir(options.serving_model_dir)
  assert len(pushed) == 1
  (pusher,) = _node_executions(store, 'Pusher')
  (model,) = [
    a
    for a in _artifacts(store, pusher, metadata_store_pb2.Event.INPUT)
    if a.type_id == _type_id(store, 'Model')
  ]
  (trainer,) = _node_executions(store, 'Trainer')
  assert _producer(store, model).id == trainer.id
  (pushed_model,) = _artifacts(store, pusher, metadata_store_pb2.Event.OUTPUT)
  assert pushed_model.custom_properties['pushed'].int_value == 1
  assert os.path.samefile(
    pushed_model.custom_properties['pushed_destination'].string_value,
    os.path.join(options.serving_model_dir, pushed[0]),
  )
  # Its lineage ends at the ImportExampleGen run that read the fixed file.
  example_gens = _node_executions(store, 'ImportExampleGen')
  assert len(example_gens) == 2
  assert _upstream_example_gen(store, model).id == example_gens[-1].id


@pytest.mark.e2e
def test_the_confounded_pair_is_served_as_one_affinity_that_ranks_binders(
  runs,
):
  console = runs['console']
  assert 'target and serum are confounded' in console
  assert 'served latent affinities: affinity_target_vs_serum' in console
  scores = truth_scoring.score_run(runs['options'].run_dir, unseen=True)
  by_set = {(s.output, s.truth, s.sequence_set): s for s in scores.scores}
  assert {s.output for s in scores.scores} == {'affinity_target_vs_serum'}
  # Chance is 0.5; before this design was identified, the served
  # affinity_target ranked true binders inversely (0.12). The benchmark
  # records the exact numbers.
  held_out = by_set[
    ('affinity_target_vs_serum', 'target', truth_scoring.HELD_OUT)
  ]
  assert held_out.auc_true_top_1p > 0.7
  mutants = by_set[
    ('affinity_target_vs_serum', 'target', truth_scoring.UNSEEN_MUTANTS)
  ]
  assert mutants.num_sequences == 20 * 40
  assert mutants.spearman > 0.1
  # Fresh random sequences are not asserted on: they carry almost no
  # planted motif, so their true affinity is the simulator's per-sequence
  # noise term, which no model can learn (README, Benchmarks).
  assert (
    'affinity_target_vs_serum',
    'target',
    truth_scoring.UNSEEN_RANDOM,
  ) in by_set


@pytest.mark.e2e
def test_designs_walk_by_the_combined_latent_and_beat_random(runs):
  options = runs['options']
  designs = local_runner.latest_artifact(
    options, designer_component.Designs.TYPE_NAME, 'Designer'
  )
  assert designs is not None
  with open(os.path.join(designs.uri, designer.SUMMARY_JSON)) as f:
    summary = json.load(f)
  assert summary['affinity'] == 'target_vs_serum'
  assert summary['seeds_by_source'] == {'experimental': 10, 'ml': 10}
  assert summary['num_designs'] == 20 * 11
  assert 'Designs against the simulator' in runs['console']
  result = design_truth.judge(designs.uri, options.input_dir)
  rates = result.rates
  # The model's walk finds better binders than random mutants of the same
  # seeds at the same distances (measured: median true gain -0.19 against
  # -0.42, 42 % against 35 % better than their seed, on 220 designs), and
  # the oracle's better still.
  assert rates['model'].median_gain > rates['random'].median_gain + 0.1
  assert rates['model'].improved > rates['random'].improved
  assert rates['oracle'].improved >= rates['model'].improved
