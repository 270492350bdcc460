"""tools/truth_scoring.py and `aptamer-tfx truth-score` on real SavedModels.

The models are small Keras models whose latent affinities are known
functions of base counts (and, for the structure model, of ViennaRNA's MFE),
exported with `serving_default` and `serve_sequences` like the Trainer's. The
dataset is hand-made: a ground truth, unseen sequences and gzip TFRecord
examples; the run directory's MLMD is written with the MLMD API the way TFX
records ImportExampleGen. Expected numbers come from sklearn and scipy.
"""

import gzip
import json
import os

import handmade_data
import keras
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics
import tensorflow as tf
from tfx import v1 as tfx

from components.features.structure import folding
from pipeline import configs
from simulation import landscapes
from simulation import oracle
from tools import cli
from tools import truth_scoring

_RNG = np.random.default_rng(7)
_LENGTH = 12
_BASES = np.array(list('ACGT'))
# Output -> weights of (#A, #C, #G, #T, mfe) in its latent affinity. Exact
# in float32 (integers; the mfe alone), so ties are the same in numpy: the
# ranks, and so the scores, must match exactly.
_WEIGHTS = {
  'affinity_target': (1, 0, 16, 0, 0),
  'affinity_serum': (0, 16, 0, 1, 0),
  'affinity_target_vs_serum': (1, -16, 16, -1, 0),
}
_STRUCTURE_WEIGHTS = {'affinity_target': (0, 0, 0, 0, 1)}
_FORWARD = 'GGGAGACAAGAATAAACGCTCAA'
_REVERSE = 'TTCGACAGGAGGCTCACAACAGGC'
_EXPERIMENT = (
  handmade_data.EXPERIMENT
  + f'forward_primer: "{_FORWARD}"\nreverse_primer: "{_REVERSE}"\n'
)


def _random_sequences(count):
  return [''.join(_RNG.choice(_BASES, _LENGTH)) for _ in range(count)]


def _mutant(sequence, distance):
  chars = list(sequence)
  for i in _RNG.choice(len(chars), distance, replace=False):
    chars[i] = _RNG.choice([b for b in 'ACGT' if b != chars[i]])
  return ''.join(chars)


def _counts(sequences):
  return np.array([[s.count(b) for b in 'ACGT'] for s in sequences], np.float64)


def _expected(sequences, output, weights=None, mfe=None):
  """The latent affinity the test model computes, in numpy."""
  w = np.array((weights or _WEIGHTS)[output])
  value = _counts(sequences) @ w[:4]
  if mfe is not None:
    value = value + w[4] * np.asarray(mfe)
  return value


class _Served(tf.Module):
  """A Keras model behind the two serving signatures the tools read."""

  def __init__(self, weights, structure):
    super().__init__()
    self.outputs = sorted(weights)
    self.structure = structure
    width = 5 if structure else 4
    inputs = keras.Input((width,), name='features')
    layer = keras.layers.Dense(len(self.outputs), use_bias=False)
    self.model = keras.Model(inputs, layer(inputs))
    kernel = np.array([weights[o][:width] for o in self.outputs]).T
    layer.set_weights([kernel.astype(np.float32)])

  def _predict(self, sequences, mfe=None):
    chars = tf.strings.bytes_split(sequences)
    columns = [
      tf.reduce_sum(tf.cast(tf.equal(chars, b), tf.float32), axis=1)
      for b in 'ACGT'
    ]
    if self.structure:
      columns.append(tf.reshape(mfe, [-1]))
    out = self.model(tf.stack(columns, axis=1))
    result = {o: out[:, i] for i, o in enumerate(self.outputs)}
    # A count output, not an affinity: never scored.
    result['round1_positive'] = columns[0]
    return result

  def signatures(self):
    if self.structure:
      spec = {
        'sequence': tf.io.FixedLenFeature([], tf.string),
        folding.MFE: tf.io.FixedLenFeature([], tf.float32),
      }

      @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
      )
      def serve_examples(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        return self._predict(parsed['sequence'], parsed[folding.MFE])

      @tf.function(
        input_signature=[
          tf.TensorSpec([None], tf.string, name='sequences'),
          tf.TensorSpec([None], tf.float32, name=folding.MFE),
        ]
      )
      def serve_sequences(sequences, mfe):
        return self._predict(sequences, mfe)

    else:
      spec = {'sequence': tf.io.FixedLenFeature([], tf.string)}

      @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
      )
      def serve_examples(serialized):
        return self._predict(tf.io.parse_example(serialized, spec)['sequence'])

      @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name='sequences')]
      )
      def serve_sequences(sequences):
        return self._predict(sequences)

    return {
      'serving_default': serve_examples,
      'serve_sequences': serve_sequences,
    }


def _export(path, weights=None, structure=False):
  module = _Served(weights or _WEIGHTS, structure)
  tf.saved_model.save(module, path, signatures=module.signatures())
  return path


def _example(sequence, mfe=None):
  feature = {
    'sequence': tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[sequence.encode()])
    )
  }
  if mfe is not None:
    feature[folding.MFE] = tf.train.Feature(
      float_list=tf.train.FloatList(value=[mfe])
    )
  return tf.train.Example(
    features=tf.train.Features(feature=feature)
  ).SerializeToString()


def _write_examples(split_dir, examples):
  os.makedirs(split_dir)
  path = os.path.join(split_dir, 'data_tfrecord-00000-of-00001.gz')
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for example in examples:
      writer.write(example)


def _kd(count):
  return 10.0 ** _RNG.normal(-6, 1, count)


def _make_dataset(root, num=400, with_unseen=True):
  """A dataset dir: ground truth, unseen sequences and examples."""
  os.makedirs(root)
  library = list(dict.fromkeys(_random_sequences(num)))
  truth = pd.DataFrame(
    {
      'sequence': library,
      'cluster': np.arange(len(library)),
      'target_kd': _kd(len(library)),
      'serum_kd': _kd(len(library)),
    }
  )
  truth['target_dg'] = np.log10(truth['target_kd'])
  truth['serum_dg'] = np.log10(truth['serum_kd'])
  with gzip.open(os.path.join(root, truth_scoring.TRUTH_FILENAME), 'wt') as f:
    truth.to_csv(f, index=False)
  with open(os.path.join(root, 'experiment.pbtxt'), 'w') as f:
    f.write(_EXPERIMENT)
  _write_examples(
    os.path.join(root, 'examples'), [_example(s) for s in library]
  )
  if with_unseen:
    random = _random_sequences(300)
    rows = [
      dict(sequence=s, kind='random', hamming=0, seed_sequence='')
      for s in random
    ]
    for distance in (1, 2, 3, 4):
      for seed in library[:150]:
        rows.append(
          dict(
            sequence=_mutant(seed, distance),
            kind='mutant',
            hamming=distance,
            seed_sequence=seed,
          )
        )
    unseen = pd.DataFrame(rows)
    unseen['target_kd'] = _kd(len(unseen))
    unseen['serum_kd'] = _kd(len(unseen))
    unseen['target_dg'] = np.log10(unseen['target_kd'])
    unseen['serum_dg'] = np.log10(unseen['serum_kd'])
    path = os.path.join(root, truth_scoring.UNSEEN_FILENAME)
    with gzip.open(path, 'wt') as f:
      unseen.to_csv(f, index=False)
  return root, truth


def _make_run(run_dir, dataset_dir, held_out, split='test', structure=None):
  """A run dir whose MLMD records ImportExampleGen (and StructureFeatures).

  Args:
    run_dir: the directory to create.
    dataset_dir: recorded as ImportExampleGen's `input_base`.
    held_out: serialized examples of the held-out split.
    split: the held-out split's name.
    structure: StructureFeatures' exec properties; None: not recorded.
  """
  os.makedirs(run_dir)
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(
      os.path.join(run_dir, truth_scoring.METADATA_FILENAME)
    )
  )
  node_type = store.put_context_type(
    metadata_store_pb2.ContextType(name='node')
  )
  examples_type = store.put_artifact_type(
    metadata_store_pb2.ArtifactType(name='Examples')
  )

  def record(node_id, output_key, properties):
    execution_type = store.put_execution_type(
      metadata_store_pb2.ExecutionType(name=f'tfx.{node_id}')
    )
    context = metadata_store_pb2.Context(
      type_id=node_type, name=f'{configs.PIPELINE_NAME}.{node_id}'
    )
    [context.id] = store.put_contexts([context])
    uri = os.path.join(run_dir, 'pipeline', node_id, output_key, '1')
    _write_examples(os.path.join(uri, f'Split-{split}'), held_out)
    _write_examples(os.path.join(uri, 'Split-train'), held_out[:1])
    artifact = metadata_store_pb2.Artifact(
      type_id=examples_type, uri=uri, state=metadata_store_pb2.Artifact.LIVE
    )
    execution = metadata_store_pb2.Execution(
      type_id=execution_type,
      last_known_state=metadata_store_pb2.Execution.COMPLETE,
    )
    for key, value in properties.items():
      field = {str: 'string_value', int: 'int_value', float: 'double_value'}
      setattr(execution.custom_properties[key], field[type(value)], value)
    event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
    event.path.steps.add().key = output_key
    event.path.steps.add().index = 0
    store.put_execution(execution, [(artifact, event)], [context])

  record('ImportExampleGen', 'examples', {'input_base': dataset_dir})
  if structure is not None:
    record('StructureFeatures', 'augmented_examples', structure)
  return run_dir


@pytest.fixture(scope='module')
def models(tmp_path_factory):
  root = tmp_path_factory.mktemp('models')
  return {
    'plain': _export(str(root / 'plain')),
    'structure': _export(
      str(root / 'structure'), _STRUCTURE_WEIGHTS, structure=True
    ),
  }


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  return _make_dataset(str(tmp_path_factory.mktemp('data') / 'dataset'))


def _held_out(truth):
  """Half the library, each sequence twice (it must count once)."""
  sequences = truth['sequence'].tolist()[::2]
  return sequences, [_example(s) for s in sequences + sequences]


def _strength(table, truth):
  if truth == 'target_vs_serum':
    return -np.log10(table['target_kd']) + np.log10(table['serum_kd'])
  return -np.log10(table[f'{truth}_kd']).to_numpy()


def _check(score, predicted, strength):
  strength = np.asarray(strength)
  is_top = strength > np.quantile(strength, 0.99)
  assert score.num_sequences == len(strength)
  assert score.num_true_top == is_top.sum() > 0
  assert score.auc_true_top_1p == pytest.approx(
    metrics.roc_auc_score(is_top, predicted)
  )
  assert score.spearman == pytest.approx(
    stats.spearmanr(predicted, strength).statistic
  )


def _pushed_run(tmp_path, models, dataset, **kwargs):
  dataset_dir, truth = dataset
  sequences, held_out = _held_out(truth)
  run_dir = _make_run(str(tmp_path / 'run'), dataset_dir, held_out, **kwargs)
  serving = os.path.join(run_dir, truth_scoring.SERVING_MODEL_DIRNAME)
  os.makedirs(serving)
  # Two pushes: the newest (largest timestamp) is scored.
  os.symlink(models['plain'], os.path.join(serving, '1700000000'))
  os.symlink(models['plain'], os.path.join(serving, '900000000'))
  return run_dir, sequences


def test_score_keeps_its_signature(tmp_path, models, dataset):
  dataset_dir, truth = dataset
  sequences, held_out = _held_out(truth)
  truth_csv = os.path.join(dataset_dir, truth_scoring.TRUTH_FILENAME)
  table = truth.set_index('sequence').loc[sequences]
  result = truth_scoring.score(models['plain'], held_out, truth_csv)
  assert result.molecule == 'target'
  _check(
    result,
    _expected(sequences, 'affinity_target'),
    _strength(table, 'target'),
  )
  assert result.describe().startswith('target: held-out sequences 200,')
  combined = truth_scoring.score(
    models['plain'], held_out, truth_csv, 'target_vs_serum'
  )
  assert combined.truth == 'target_vs_serum'
  _check(
    combined,
    _expected(sequences, 'affinity_target_vs_serum'),
    _strength(table, 'target_vs_serum'),
  )


def test_combined_truth():
  table = pd.DataFrame({'target_kd': [1e-6, 1e-8], 'serum_kd': [1e-7, 1e-5]})
  np.testing.assert_allclose(
    truth_scoring.truth_strength(table, 'target_vs_serum'), [-1.0, 3.0]
  )
  np.testing.assert_allclose(
    truth_scoring.truth_strength(table, 'target'), [6.0, 8.0]
  )
  assert truth_scoring.truths_of('target_vs_serum') == [
    'target_vs_serum',
    'target',
  ]
  assert truth_scoring.truths_of('serum') == ['serum']
  with pytest.raises(truth_scoring.TruthScoringError, match='no cell_kd'):
    truth_scoring.truth_strength(table, 'target_vs_cell')


def test_score_run_held_out_and_unseen(tmp_path, models, dataset):
  dataset_dir, truth = dataset
  run_dir, sequences = _pushed_run(tmp_path, models, dataset)
  result = truth_scoring.score_run(run_dir, unseen=True)
  assert result.model_dir.endswith('1700000000')
  assert result.dataset_dir == dataset_dir
  unseen = pd.read_csv(os.path.join(dataset_dir, truth_scoring.UNSEEN_FILENAME))
  unseen = unseen.drop_duplicates('sequence')
  held_out = truth.set_index('sequence', drop=False).loc[sequences]
  sets = {
    'held-out': held_out,
    'unseen random': unseen[unseen.kind == 'random'],
    'unseen mutants': unseen[unseen.kind == 'mutant'],
  }
  for distance in (1, 2, 3, 4):
    sets[f'unseen mutants, hamming {distance}'] = unseen[
      (unseen.kind == 'mutant') & (unseen.hamming == distance)
    ]
  pairs = [
    ('affinity_serum', 'serum'),
    ('affinity_target', 'target'),
    ('affinity_target_vs_serum', 'target_vs_serum'),
    ('affinity_target_vs_serum', 'target'),
  ]
  by_key = {(s.output, s.truth, s.sequence_set): s for s in result.scores}
  assert len(by_key) == len(result.scores) == len(pairs) * len(sets)
  for output, truth_name in pairs:
    for name, table in sets.items():
      _check(
        by_key[(output, truth_name, name)],
        _expected(table['sequence'].tolist(), output),
        _strength(table, truth_name),
      )
  # The table lists every row.
  text = truth_scoring.format_table(result)
  assert text.count('\n') >= len(result.scores) + 4
  assert 'unseen mutants, hamming 4' in text


def test_ceilings_score_the_noise_free_landscape(tmp_path, models):
  dataset_dir, truth = _make_dataset(str(tmp_path / 'dataset'))
  model = oracle.TruthModel(
    landscape=landscapes.MOTIF,
    structure_weight=0.0,
    target_dg_mean=-6.0,
    serum_dg_mean=-6.0,
    binding_noise_scale=1.0,
    binding_energy_correlation=0.0,
    seed=1,
    matrix_weight=0.6,
  )
  with open(os.path.join(dataset_dir, oracle.TRUTH_MODEL_FILENAME), 'w') as f:
    f.write(model.to_json())
  sequences, held_out = _held_out(truth)
  run_dir = _make_run(str(tmp_path / 'run'), dataset_dir, held_out)
  result = truth_scoring.score_run(
    run_dir, unseen=True, model_dir=models['plain']
  )
  truth_oracle = oracle.TruthOracle.from_dataset(dataset_dir)
  held = truth.set_index('sequence', drop=False).loc[sequences]
  by_key = {(s.output, s.truth, s.sequence_set): s for s in result.scores}
  # Serum has no matrix term: its noise-free strength is flat here.
  for output, truth_name in (
    ('affinity_target', 'target'),
    ('affinity_target_vs_serum', 'target_vs_serum'),
  ):
    score = by_key[(output, truth_name, 'held-out')]
    noise_free = truth_oracle.strength(sequences, truth_name, noise=False)
    strength = np.asarray(_strength(held, truth_name))
    is_top = strength > np.quantile(strength, 0.99)
    assert score.ceiling_auc == pytest.approx(
      metrics.roc_auc_score(is_top, noise_free)
    )
    assert score.ceiling_spearman == pytest.approx(
      stats.spearmanr(noise_free, strength).statistic
    )
  assert not any('ceiling' in n for n in result.notes)
  assert 'ceiling AUC' in truth_scoring.format_table(result)
  # Without a model: the same ceilings on the unseen sets.
  by_set = {
    (truth_name, name): (auc, spearman)
    for truth_name, name, auc, spearman in truth_scoring.unseen_ceilings(
      dataset_dir, ['target']
    )
  }
  for name in ('unseen random', 'unseen mutants, hamming 2'):
    score = by_key[('affinity_target', 'target', name)]
    assert by_set[('target', name)] == pytest.approx(
      (score.ceiling_auc, score.ceiling_spearman)
    )


def test_no_truth_model_means_no_ceilings(tmp_path, models, dataset):
  run_dir, _ = _pushed_run(tmp_path, models, dataset)
  result = truth_scoring.score_run(run_dir)
  assert all(s.as_dict()['ceiling_auc'] is None for s in result.scores)
  assert any(
    n.startswith('no ceilings:') and 'truth_model.json' in n
    for n in result.notes
  )


def test_eval_split_of_older_runs(tmp_path, models, dataset):
  run_dir, sequences = _pushed_run(tmp_path, models, dataset, split='eval')
  result = truth_scoring.score_run(run_dir)
  assert {s.sequence_set for s in result.scores} == {'held-out'}
  assert all(s.num_sequences == len(sequences) for s in result.scores)


def test_structure_model_folds_sequences(tmp_path, models, dataset):
  dataset_dir, truth = dataset
  sequences, _ = _held_out(truth)
  sequences = sequences[:120]  # Folding takes time.
  held_out = [_example(s) for s in sequences]
  # No StructureFeatures output (and no mfe in the examples): the tool
  # folds with StructureFeatures' defaults and uses serve_sequences.
  run_dir = _make_run(str(tmp_path / 'run'), dataset_dir, held_out)
  result = truth_scoring.score_run(
    run_dir, unseen=True, model_dir=models['structure']
  )
  parameters = folding.FoldingParameters()

  def mfe(seqs):
    return [np.float32(folding.fold(s, parameters)[folding.MFE]) for s in seqs]

  by_key = {(s.sequence_set, s.truth): s for s in result.scores}
  table = truth.set_index('sequence').loc[sequences]
  _check(
    by_key[('held-out', 'target')],
    _expected(sequences, 'affinity_target', _STRUCTURE_WEIGHTS, mfe(sequences)),
    _strength(table, 'target'),
  )
  unseen = pd.read_csv(os.path.join(dataset_dir, truth_scoring.UNSEEN_FILENAME))
  random = unseen[unseen.kind == 'random'].drop_duplicates('sequence')
  seqs = random['sequence'].tolist()
  _check(
    by_key[('unseen random', 'target')],
    _expected(seqs, 'affinity_target', _STRUCTURE_WEIGHTS, mfe(seqs)),
    _strength(random, 'target'),
  )


def test_folding_parameters_are_the_runs(tmp_path, dataset):
  dataset_dir, truth = dataset
  _, held_out = _held_out(truth)
  recorded = {
    'include_primers': 1,
    'temperature': 25.0,
    'sodium': 0.15,
    'forward_primer': 'ACGT',
    'reverse_primer': 'TTTT',
    'energy_parameters': folding.RNA_TURNER2004,
  }
  run_dir = _make_run(
    str(tmp_path / 'run'), dataset_dir, held_out, structure=recorded
  )
  expected = folding.FoldingParameters(
    energy_parameters=folding.RNA_TURNER2004,
    temperature=25.0,
    sodium=0.15,
    forward_primer=_FORWARD,
    reverse_primer=_REVERSE,
  )
  # Primers: the dataset's experiment.pbtxt, else the recorded ones.
  assert truth_scoring.folding_parameters(run_dir, dataset_dir) == expected
  assert truth_scoring.folding_parameters(
    run_dir, str(tmp_path)
  ) == folding.FoldingParameters(
    energy_parameters=folding.RNA_TURNER2004,
    temperature=25.0,
    sodium=0.15,
    forward_primer='ACGT',
    reverse_primer='TTTT',
  )
  # Folded without primers: none, whatever the experiment says.
  other = _make_run(
    str(tmp_path / 'other'),
    dataset_dir,
    held_out,
    structure=dict(recorded, include_primers=0),
  )
  assert truth_scoring.folding_parameters(other, dataset_dir) == (
    folding.FoldingParameters(
      energy_parameters=folding.RNA_TURNER2004, temperature=25.0, sodium=0.15
    )
  )


def test_structure_model_reads_structure_features(tmp_path, models, dataset):
  dataset_dir, truth = dataset
  sequences, _ = _held_out(truth)
  # Made-up mfe values: only the examples can have supplied them.
  fake = {s: float(i % 7) for i, s in enumerate(sequences)}
  held_out = [_example(s, fake[s]) for s in sequences]
  run_dir = _make_run(
    str(tmp_path / 'run'), dataset_dir, held_out, structure={}
  )
  result = truth_scoring.score_run(run_dir, model_dir=models['structure'])
  [held] = result.scores
  _check(
    held,
    _expected(
      sequences,
      'affinity_target',
      _STRUCTURE_WEIGHTS,
      np.array([fake[s] for s in sequences], np.float32),
    ),
    _strength(truth.set_index('sequence').loc[sequences], 'target'),
  )


def test_model_dir_accepts_a_trainer_model(tmp_path, models, dataset):
  dataset_dir, truth = dataset
  _, held_out = _held_out(truth)
  run_dir = _make_run(str(tmp_path / 'run'), dataset_dir, held_out)
  trainer_model = tmp_path / 'Trainer' / 'model' / '7'
  trainer_model.mkdir(parents=True)
  os.symlink(models['plain'], trainer_model / 'Format-Serving')
  result = truth_scoring.score_run(run_dir, model_dir=str(trainer_model))
  assert result.model_dir == str(trainer_model / 'Format-Serving')


def test_unscorable_output_is_a_note(tmp_path, dataset):
  dataset_dir, truth = dataset
  _, held_out = _held_out(truth)
  run_dir = _make_run(str(tmp_path / 'run'), dataset_dir, held_out)
  weights = dict(_WEIGHTS, affinity_cell=(1, 0, 0, 0, 0))
  model = _export(str(tmp_path / 'model'), weights)
  result = truth_scoring.score_run(run_dir, model_dir=model)
  assert 'affinity_cell' not in {s.output for s in result.scores}
  assert any('affinity_cell' in n and 'cell_kd' in n for n in result.notes)


def _error(capsys, argv):
  assert cli.main(['truth-score', *argv]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ')
  return err


def test_errors(tmp_path, capsys, models, dataset):
  dataset_dir, truth = dataset
  _, held_out = _held_out(truth)
  assert 'no such run directory' in _error(capsys, [str(tmp_path / 'nope')])
  run_dir = _make_run(str(tmp_path / 'run'), dataset_dir, held_out)
  err = _error(capsys, [run_dir])
  assert os.path.join(run_dir, 'serving_model') in err
  assert 'no model was pushed' in err and '--model_dir' in err
  assert 'Format-Serving' in err
  err = _error(capsys, [run_dir, '--model_dir', str(tmp_path)])
  assert 'saved_model.pb' in err
  model = ['--model_dir', models['plain']]
  # The dataset: not a directory, no ground truth, no MLMD to find it in.
  err = _error(capsys, [run_dir, *model, '--dataset_dir', str(tmp_path / 'x')])
  assert 'no such directory' in err
  err = _error(capsys, [run_dir, *model, '--dataset_dir', str(tmp_path)])
  assert truth_scoring.TRUTH_FILENAME in err
  empty = tmp_path / 'empty'
  empty.mkdir()
  err = _error(capsys, [str(empty), *model])
  assert 'metadata.db' in err and '--dataset_dir' in err
  # --unseen without the file.
  no_unseen, _ = _make_dataset(str(tmp_path / 'no_unseen'), 50, False)
  err = _error(
    capsys, [run_dir, *model, '--dataset_dir', no_unseen, '--unseen']
  )
  assert os.path.join(no_unseen, truth_scoring.UNSEEN_FILENAME) in err


def test_cli_end_to_end(tmp_path, capsys, models, dataset):
  run_dir, sequences = _pushed_run(tmp_path, models, dataset)
  path = str(tmp_path / 'scores.json')
  assert cli.main(['truth-score', run_dir, '--unseen', '--json', path]) == 0
  out = capsys.readouterr().out
  with open(path) as f:
    written = json.load(f)
  assert written['dataset_dir'] == dataset[0]
  assert written['top_fraction'] == 0.01
  expected = truth_scoring.score_run(run_dir, unseen=True)
  assert written['scores'] == [s.as_dict() for s in expected.scores]
  header = next(line for line in out.splitlines() if line.startswith('output'))
  assert header.split() == [
    'output',
    'truth',
    'sequences',
    'n',
    'true',
    'top',
    'ROC-AUC',
    'Spearman',
    'ceiling',
    'AUC',
    'ceiling',
    'Spearman',
  ]
  row = next(
    line
    for line in out.splitlines()
    if line.startswith('affinity_target ') and 'held-out' in line
  )
  score = next(
    s
    for s in written['scores']
    if s['output'] == 'affinity_target' and s['sequence_set'] == 'held-out'
  )
  assert row.split()[3:] == [
    str(len(sequences)),
    str(score['num_true_top']),
    f'{score["auc_true_top_1p"]:.3f}',
    f'{score["spearman"]:.3f}',
    'n/a',  # The handmade dataset has no truth model: no ceilings.
    'n/a',
  ]
  assert f'Scores written to {path}' in out


def test_truth_strength_of_combined_latents():
  table = pd.DataFrame({'target_kd': [10.0, 1000.0], 'serum_kd': [100.0, 1.0]})
  np.testing.assert_allclose(
    truth_scoring.truth_strength(table, 'target_vs_serum'), [1.0, -3.0]
  )
  np.testing.assert_allclose(
    truth_scoring.truth_strength(table, 'target_and_serum'), [-3.0, -3.0]
  )
  assert truth_scoring.truths_of('target_and_serum') == [
    'target_and_serum',
    'target',
  ]
  assert truth_scoring.truth_problem(['target_kd'], 'target_vs_serum') == (
    'no serum_kd column'
  )
