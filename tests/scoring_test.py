"""Tests of scoring sequences with trained models (scorer, Beam, CLI, TFX)."""

import contextlib
import io
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import util as testing_util
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.components.base import executor_spec

import components
from components.design import scoring
from components.design import scoring_component
from components.design import sequence_io
from tools import cli

_LENGTH = 40
# TensorFlow's float sums depend a little on the batch size.
_TOLERANCE = {'rtol': 1e-5, 'atol': 1e-6}


def _sequences(count, seed=0):
  rng = np.random.default_rng(seed)
  letters = rng.choice(list('ACGT'), size=(count, _LENGTH))
  sequences = [''.join(row) for row in letters]
  return sequences + sequences[:3]  # Duplicates score like the originals.


def _write_fasta(path, sequences):
  with open(path, 'w') as f:
    for i, sequence in enumerate(sequences):
      # Two lines per record, as FASTA files wrap long sequences.
      f.write(f'>seq{i} library member\n{sequence[:25]}\n{sequence[25:]}\n')
  return str(path)


def _assert_same_scores(table, expected, columns):
  assert list(table['sequence']) == list(expected['sequence'])
  for column in columns:
    np.testing.assert_allclose(
      np.asarray(table[column], np.float32),
      expected[column],
      err_msg=column,
      **_TOLERANCE,
    )


@pytest.fixture(scope='module')
def scorer(pushed_demo_model):
  return scoring.SequenceScorer([pushed_demo_model], batch_size=128)


@pytest.fixture(scope='module')
def sequences():
  return _sequences(300)


@pytest.fixture(scope='module')
def expected(scorer, sequences):
  return scorer.score(sequences)


def _numeric(scorer):
  return [c for c in scorer.columns if c != scoring.SEQUENCE_COLUMN]


@pytest.mark.e2e
def test_scorer_matches_the_raw_signature(
  pushed_demo_model, scorer, sequences, expected
):
  signature = tf.saved_model.load(pushed_demo_model).signatures[
    'serve_sequences'
  ]
  raw = {
    k: v.numpy() for k, v in signature(sequences=tf.constant(sequences)).items()
  }
  assert scorer.molecules and scorer.other_outputs
  assert list(expected) == scorer.columns
  assert list(expected['sequence']) == sequences
  for output in raw:
    if output.startswith(scoring.AFFINITY_PREFIX):
      np.testing.assert_allclose(
        expected[scoring.mean_column(output)], raw[output], **_TOLERANCE
      )
      assert np.all(expected[scoring.std_column(output)] == 0.0)
    else:
      np.testing.assert_allclose(expected[output], raw[output], **_TOLERANCE)
  assert set(raw) == {
    *scorer.other_outputs,
    *(scoring.AFFINITY_PREFIX + m for m in scorer.molecules),
  }


@pytest.mark.e2e
def test_two_copies_of_a_model_give_zero_std(
  pushed_demo_model, sequences, expected
):
  pair = scoring.SequenceScorer([pushed_demo_model, pushed_demo_model])
  scores = pair.score(sequences)
  for column in pair.columns[1:]:
    if column.endswith(scoring.STD_SUFFIX):
      assert np.all(scores[column] == 0.0), column
    else:
      np.testing.assert_allclose(scores[column], expected[column], **_TOLERANCE)


@pytest.mark.e2e
def test_scorer_rejects_bad_sequences_and_models(scorer, tmp_path):
  with pytest.raises(scoring.ScoringError, match="sequence 1 \\('ACNT'\\)"):
    scorer.score(['ACGT', 'ACNT'])
  with pytest.raises(scoring.ScoringError, match='no SavedModel'):
    scoring.SequenceScorer([str(tmp_path)])


@pytest.mark.e2e
def test_beam_transform_matches_the_scorer(
  pushed_demo_model, scorer, sequences, expected
):
  columns = list(scorer.columns)
  numeric = _numeric(scorer)

  def check_batches(batches):
    # One element per batch, in any order; duplicates have equal scores.
    assert len(batches) > 1
    assert all(list(b) == columns for b in batches)
    joined = scoring.concatenate(batches)
    assert joined[scoring.SEQUENCE_COLUMN].dtype == object
    assert all(joined[c].dtype == np.float32 for c in numeric)
    check_rows(list(scoring.rows_of(joined)))

  def check_rows(rows):
    assert len(rows) == len(sequences)
    by_sequence = {row['sequence']: row for row in rows}
    table = {c: [by_sequence[s][c] for s in sequences] for c in columns}
    _assert_same_scores(table, expected, numeric)

  with beam.Pipeline(argv=['--direct_running_mode=in_memory']) as pipeline:
    inputs = pipeline | beam.Create(sequences)
    batches = inputs | 'Batches' >> scoring.ScoreSequences(
      [pushed_demo_model], min_batch_size=16, max_batch_size=64
    )
    rows = inputs | 'Rows' >> scoring.ScoreSequences(
      [pushed_demo_model], min_batch_size=16, rows=True
    )
    testing_util.assert_that(batches, check_batches, label='CheckBatches')
    testing_util.assert_that(rows, check_rows, label='CheckRows')


def test_worker_threads_share_the_cores_of_local_workers():
  cores = os.cpu_count()

  def threads(*argv):
    return scoring.worker_threads(PipelineOptions(list(argv)))

  assert threads() is None  # One in-memory worker: TensorFlow's default.
  assert (
    threads(
      '--direct_running_mode=multi_processing', f'--direct_num_workers={cores}'
    )
    == 1
  )
  assert (
    threads('--direct_running_mode=multi_threading', '--direct_num_workers=1')
    is None
  )
  assert (
    threads(
      '--direct_running_mode=multi_processing',
      f'--direct_num_workers={4 * cores}',
    )
    == 1
  )
  assert scoring.worker_threads(None) is None


def test_batches_survive_the_arrow_encoding_exactly():
  values = np.array([0.1, -3.5e-8, np.float32(1) / 3], np.float32)
  batch = {
    'sequence': np.array(['ACGT', 'GGCC', 'TTAA'], dtype=object),
    'affinity_target_mean': values,
    'affinity_target_std': np.zeros(3, np.float32),
  }
  decoded = scoring_component.decode_batch(
    scoring_component.encode_batch(batch)
  )
  assert list(decoded) == list(batch)
  assert decoded['sequence'].dtype == object
  assert decoded['sequence'].tolist() == ['ACGT', 'GGCC', 'TTAA']
  assert decoded['affinity_target_mean'].dtype == np.float32
  assert decoded['affinity_target_mean'].tobytes() == values.tobytes()
  joined = scoring.concatenate([batch, decoded])
  assert joined['sequence'].tolist() == ['ACGT', 'GGCC', 'TTAA'] * 2
  assert scoring.concatenate([]) == {}


@pytest.mark.e2e
def test_score_command_writes_the_scorer_numbers(
  pushed_demo_model, scorer, sequences, expected, tmp_path
):
  fasta = _write_fasta(tmp_path / 'library.fa', sequences)
  output = str(tmp_path / 'scores.csv')
  out = io.StringIO()
  with (
    contextlib.redirect_stdout(out),
    contextlib.redirect_stderr(io.StringIO()),
  ):
    code = cli.main(
      [
        'score',
        '--model',
        pushed_demo_model,
        '--input',
        fasta,
        '--output',
        output,
        '--batch_size',
        '64',
      ]
    )
  assert code == 0
  assert f'Scored {len(sequences)} sequences' in out.getvalue()
  assert output in out.getvalue()
  table = pd.read_csv(output)
  assert list(table.columns[:2]) == ['sequence', 'name']
  assert table['name'].tolist()[:2] == ['seq0', 'seq1']
  _assert_same_scores(table, expected, _numeric(scorer))


@pytest.mark.e2e
def test_score_command_bad_input_writes_nothing(pushed_demo_model, tmp_path):
  bad = tmp_path / 'bad.txt'
  bad.write_text('A' * _LENGTH + '\n' + 'A' * 20 + 'X' + 'A' * 19 + '\n')
  output = tmp_path / 'scores.parquet'
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    code = cli.main(
      [
        'score',
        '--model',
        pushed_demo_model,
        '--input',
        str(bad),
        '--output',
        str(output),
      ]
    )
  assert code == 2
  assert err.getvalue().startswith(f'error: {bad}: line 2, column 21')
  assert not output.exists()


def _model_artifact(uri):
  artifact = tfx.types.standard_artifacts.Model()
  artifact.uri = uri
  return artifact


def _run_executor(tmp_path, models, input_path):
  output = scoring_component.SequenceScores()
  output.uri = str(tmp_path / 'scores')
  os.makedirs(output.uri)
  context = base_beam_executor.BaseBeamExecutor.Context(
    beam_pipeline_args=['--direct_running_mode=in_memory'],
    tmp_dir=str(tmp_path / 'tmp'),
  )
  scoring_component.Executor(context).Do(
    {f'model_{i}': [_model_artifact(m)] for i, m in enumerate(models)},
    {scoring_component.SCORES_KEY: [output]},
    {
      scoring_component.INPUT_PATH_KEY: input_path,
      scoring_component.SEQUENCE_LENGTH_KEY: str(_LENGTH),
      scoring_component.FOLDING_KEY: '',
    },
  )
  return output


@pytest.mark.e2e
def test_component_executor_writes_the_scorer_numbers(
  pushed_demo_model, scorer, sequences, expected, tmp_path
):
  # A Trainer Model artifact keeps the SavedModel under Format-Serving.
  trainer_model = tmp_path / 'trainer_model'
  trainer_model.mkdir()
  os.symlink(pushed_demo_model, trainer_model / 'Format-Serving')
  path = str(tmp_path / 'library.csv.gz')
  sequence_io.write_table(
    path, {'id': range(len(sequences)), 'sequence': sequences}
  )
  output = _run_executor(
    tmp_path, [pushed_demo_model, str(trainer_model)], path
  )
  assert sorted(os.listdir(output.uri)) == ['scores.csv', 'scores.parquet']
  for table in (
    pd.read_csv(os.path.join(output.uri, 'scores.csv')),
    pd.read_parquet(os.path.join(output.uri, 'scores.parquet')),
  ):
    assert table['name'].astype(int).tolist() == list(range(len(sequences)))
    _assert_same_scores(table, expected, _numeric(scorer))
  assert output.get_int_custom_property('scored') == len(sequences)
  assert output.get_int_custom_property('unique_sequences') == 300


@pytest.mark.e2e
def test_component_executor_rejects_bad_input_first(
  pushed_demo_model, tmp_path
):
  bad = tmp_path / 'bad.fa'
  bad.write_text('>a\n' + 'A' * _LENGTH + '\n>b\n' + 'A' * 39 + '\n')
  with pytest.raises(
    sequence_io.SequenceFileError,
    match=f'{bad}: line 4: .*length 39, expected 40',
  ):
    _run_executor(tmp_path, [pushed_demo_model], str(bad))
  assert os.listdir(tmp_path / 'scores') == []


def test_make_score_sequences_builds_a_beam_fan_in(tmp_path):
  models = [types.Channel(type=tfx.types.standard_artifacts.Model)] * 2
  component = scoring_component.make_score_sequences(
    models, str(tmp_path / 'library.fa'), sequence_length=_LENGTH
  )
  assert sorted(component.inputs) == ['model_0', 'model_1']
  assert component.outputs['scores'].type is components.SequenceScores
  assert components.SequenceScores.TYPE_NAME == 'components.SequenceScores'
  assert isinstance(component.executor_spec, executor_spec.BeamExecutorSpec)
  assert component.exec_properties['sequence_length'] == str(_LENGTH)
  with pytest.raises(scoring.ScoringError, match='temperature'):
    scoring_component.make_score_sequences(
      models, 'x.fa', folding_properties={'temperature': 'hot'}
    )


def test_executor_columns_follow_the_file_order():
  scored = {
    'sequence': np.array(['CCCC', 'AAAA', 'GGGG', 'AAAA'], dtype=object),
    'affinity_target_mean': np.array([2.0, 1.0, 3.0, 1.0], np.float32),
  }
  records = sequence_io.SequenceRecords(
    ['AAAA', 'GGGG', 'AAAA', 'CCCC'], names=['a', 'g', 'a2', 'c']
  )
  columns = scoring_component._columns(records, scored)
  assert list(columns) == ['sequence', 'name', 'affinity_target_mean']
  assert columns['sequence'].tolist() == records.sequences
  assert columns['name'].tolist() == ['a', 'g', 'a2', 'c']
  assert columns['affinity_target_mean'].tolist() == [1.0, 3.0, 1.0, 2.0]
  with pytest.raises(scoring.ScoringError, match="1 sequences .*'TTTT'"):
    scoring_component._columns(
      sequence_io.SequenceRecords(['AAAA', 'TTTT']), scored
    )


def test_batches_of_keeps_the_order_within_the_size_bounds():
  sequences = [f'A{i}' for i in range(10)]
  batches = scoring.batches_of(sequences, parts=3, min_size=2, max_size=3)
  assert [len(b) for b in batches] == [3, 3, 3, 1]
  assert sum(batches, []) == sequences
  batches = scoring.batches_of(sequences, parts=10, min_size=4)
  assert [len(b) for b in batches] == [4, 4, 2]
  assert scoring.batches_of([]) == []


def test_batch_files_round_trip_in_order(tmp_path):
  sequences = [f'{"ACGT"[i % 4]}' * 40 for i in range(5000)] + ['ACGT' * 10]
  paths = scoring.write_batches(sequences, str(tmp_path / 'batches'))
  assert len(paths) == len(scoring.batches_of(sequences))
  read = [s for path in paths for s in scoring.read_batch(path)]
  assert read == sequences
  assert scoring.write_batches([], str(tmp_path / 'none')) == []
