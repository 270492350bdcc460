"""Scores a pushed model against a simulator's ground truth.

Only simulated datasets have a truth table; real experiments are judged by
the Evaluator's count metrics instead. The score uses the held-out clusters
(ExampleGen's `test` split, `eval` in runs made before it was renamed) so it
measures generalisation to new families; `aptamer-tfx truth-score --unseen`
adds the simulator's unseen sequences (`unseen_sequences.csv.gz`): random
ones and point mutants of library members, scored through the model's
`serve_sequences` signature.

Every `affinity_<name>` output of `serving_default` is scored. `<name>` is a
molecule, whose true binding strength is -log10(<name>_kd), or a combined
latent `<a>_vs_<b>`, a's affinity relative to b: -log10(a_kd) + log10(b_kd);
a combined latent is scored against a alone too. Scores: ROC-AUC for the
true top 1% of the set and Spearman's correlation, each sequence once.

Beside each score is its ceiling: the same score of the landscape's
deterministic part (`simulation.oracle`, from the dataset's
`truth_model.json`), the truth without its per-sequence noise term. The
noise is drawn independently per sequence, so no model of the sequence can
expect to rank better than the ceiling on sequences it has not seen.
"""

import dataclasses
import glob
import json
import math
import os
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from ml_metadata.proto import metadata_store_pb2
import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics
import tensorflow as tf

from components.config import keys
from components.design import scoring
from components.features import encodings
from components.features.structure import executor as structure_executor
from components.features.structure import folding
from pipeline import configs
from schema import experiment as experiment_lib
from simulation import oracle as oracle_lib
from tools import run_artifacts

TOP_FRACTION = 0.01
TRUTH_FILENAME = 'ground_truth.csv.gz'  # Written by the simulator.
UNSEEN_FILENAME = 'unseen_sequences.csv.gz'  # Written by the simulator.
METADATA_FILENAME = 'metadata.db'
SERVING_MODEL_DIRNAME = 'serving_model'
# A Trainer `Model` artifact keeps its SavedModel here.
SERVING_FORMAT_DIRNAME = 'Format-Serving'
AFFINITY_PREFIX = encodings.affinity_output_name('')
COMBINED_SEPARATOR = '_vs_'  # a_vs_b: a's affinity relative to b.
SUM_SEPARATOR = '_and_'  # a_and_b: their summed affinity.
SEQUENCES_INPUT = 'sequences'  # serve_sequences' sequence input.
# `keys.TEST_SPLIT`, then the split runs made before the rename held out.
HELD_OUT_SPLITS = (keys.TEST_SPLIT, 'eval')
HELD_OUT = 'held-out'
UNSEEN_RANDOM = 'unseen random'
UNSEEN_MUTANTS = 'unseen mutants'
BATCH_SIZE = 4096
_DONE = (
  metadata_store_pb2.Execution.COMPLETE,
  metadata_store_pb2.Execution.CACHED,
)


# What the user can fix: a missing model, dataset, file or column. The same
# class as scoring's, so that ServedModel's errors are TruthScoringErrors.
TruthScoringError = scoring.ScoringError
# Moved to components/design/scoring.py; kept here under their old names.
ServedModel = scoring.ServedModel
fold_features = scoring.fold_features


@dataclasses.dataclass
class TruthScore:
  """How well predicted affinities recover the true ones.

  Attributes:
    molecule: the scored output is `affinity_<molecule>`.
    num_sequences: distinct sequences scored.
    num_true_top: those whose true strength is above the set's 99th
      percentile.
    auc_true_top_1p: ROC-AUC of the prediction for the true top 1%.
    spearman: Spearman's correlation of prediction and true strength.
    truth: the true strength compared with (a molecule or `<a>_vs_<b>`);
      '' means `molecule`.
    sequence_set: which sequences (`HELD_OUT`, `UNSEEN_RANDOM`, ...).
    ceiling_auc: `auc_true_top_1p` of the landscape's deterministic part
      on the same sequences (NaN when the dataset has no truth model).
    ceiling_spearman: its `spearman`, likewise.
  """

  molecule: str
  num_sequences: int
  num_true_top: int
  auc_true_top_1p: float
  spearman: float
  truth: str = ''
  sequence_set: str = HELD_OUT
  ceiling_auc: float = math.nan
  ceiling_spearman: float = math.nan

  def __post_init__(self):
    self.truth = self.truth or self.molecule

  @property
  def output(self) -> str:
    return encodings.affinity_output_name(self.molecule)

  def describe(self) -> str:
    against = '' if self.truth == self.molecule else f' vs true {self.truth}'
    ceiling = ''
    if not math.isnan(self.ceiling_auc):
      ceiling = (
        f' (ceiling without the noise term: {self.ceiling_auc:.3f} and '
        f'{self.ceiling_spearman:.3f})'
      )
    return (
      f'{self.molecule}{against}: {self.sequence_set} sequences '
      f'{self.num_sequences}, true top 1% binders {self.num_true_top}; '
      f'ROC-AUC(true top 1%) {self.auc_true_top_1p:.3f}; Spearman(predicted, '
      f'true affinity) {self.spearman:.3f}{ceiling}'
    )

  def as_dict(self) -> Dict[str, Any]:
    """JSON-ready: NaN becomes None."""
    out = dataclasses.asdict(self)
    out['output'] = self.output
    for key in (
      'auc_true_top_1p',
      'spearman',
      'ceiling_auc',
      'ceiling_spearman',
    ):
      if math.isnan(out[key]):
        out[key] = None
    return out


def read_examples(split_dir: str) -> List[bytes]:
  """Every serialized example in a split directory of gzip TFRecords."""
  files = sorted(glob.glob(os.path.join(split_dir, '*')))
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  return list(dataset.as_numpy_iterator())


def sequence_of(example: bytes) -> str:
  feature = tf.train.Example.FromString(example).features.feature
  return feature['sequence'].bytes_list.value[0].decode()


def predict_affinity(
  model_dir: str,
  examples: List[bytes],
  molecule: str,
  batch_size: int = BATCH_SIZE,
) -> np.ndarray:
  """Latent affinity of `molecule` for each example, from `serving_default`.

  Examples rather than bare sequences, so that a model with structure
  inputs gets the structure features StructureFeatures added to them.
  """
  key = encodings.affinity_output_name(molecule)
  return ServedModel(model_dir).predict_examples(examples, batch_size)[key]


def _pair(truth: str) -> Optional[Tuple[str, float, str]]:
  """(a, sign of b, b) of a combined latent name, None for one molecule."""
  for separator, sign in ((COMBINED_SEPARATOR, -1.0), (SUM_SEPARATOR, 1.0)):
    a, found, b = truth.partition(separator)
    if found:
      return a, sign, b
  return None


def truths_of(molecule: str) -> List[str]:
  """The truths an `affinity_<molecule>` output is scored against."""
  pair = _pair(molecule)
  return [molecule, pair[0]] if pair else [molecule]


def _kd_column(molecule: str) -> str:
  return f'{molecule}_kd'


def truth_problem(columns: Sequence[str], truth: str) -> str:
  """Why `truth` cannot be computed from these columns ('' if it can)."""
  if _kd_column(truth) in columns:
    return ''
  pair = _pair(truth)
  needed = (
    [_kd_column(pair[0]), _kd_column(pair[2])] if pair else [_kd_column(truth)]
  )
  missing = [c for c in needed if c not in columns]
  return f'no {" or ".join(missing)} column' if missing else ''


def truth_strength(table: pd.DataFrame, truth: str) -> np.ndarray:
  """True binding strength of each row: -log10(Kd), higher binds tighter.

  Args:
    table: rows with `<molecule>_kd` columns (ground truth or unseen).
    truth: a molecule, `<a>_vs_<b>` for a's affinity relative to b,
      -log10(a_kd) + log10(b_kd), or `<a>_and_<b>` for their sum,
      -log10(a_kd) - log10(b_kd).

  Raises:
    TruthScoringError: a Kd column is missing.
  """
  problem = truth_problem(table.columns, truth)
  if problem:
    raise TruthScoringError(f'cannot score against true {truth}: {problem}')

  def log_kd(molecule):
    return np.log10(table[_kd_column(molecule)].to_numpy(np.float64))

  if _kd_column(truth) in table.columns:
    return -log_kd(truth)
  a, sign, b = _pair(truth)
  return -log_kd(a) - sign * log_kd(b)


def rank_scores(
  predicted: np.ndarray, strength: np.ndarray
) -> Tuple[int, int, float, float]:
  """(n, true top count, ROC-AUC for the true top 1%, Spearman).

  The true top is strength above the set's 99th percentile; both scores are
  NaN where they are undefined (one class only, fewer than two sequences,
  non-finite predictions).
  """
  predicted = np.asarray(predicted, np.float64).reshape(-1)
  strength = np.asarray(strength, np.float64).reshape(-1)
  n = len(strength)
  if n == 0:
    return 0, 0, math.nan, math.nan
  cutoff = np.quantile(strength, 1 - TOP_FRACTION)
  is_top = strength > cutoff
  num_top = int(is_top.sum())
  if not np.all(np.isfinite(predicted)):
    return n, num_top, math.nan, math.nan
  auc = (
    metrics.roc_auc_score(is_top, predicted) if 0 < num_top < n else math.nan
  )
  spearman = (
    stats.spearmanr(predicted, strength).correlation if n > 1 else math.nan
  )
  return n, num_top, float(auc), float(spearman)


def _truth_score(
  molecule: str,
  truth: str,
  sequence_set: str,
  predicted: np.ndarray,
  strength: np.ndarray,
  deterministic: Optional[np.ndarray] = None,
) -> TruthScore:
  n, num_top, auc, spearman = rank_scores(predicted, strength)
  ceiling_auc = ceiling_spearman = math.nan
  if deterministic is not None:
    _, _, ceiling_auc, ceiling_spearman = rank_scores(deterministic, strength)
  return TruthScore(
    molecule=molecule,
    num_sequences=n,
    num_true_top=num_top,
    auc_true_top_1p=auc,
    spearman=spearman,
    truth=truth,
    sequence_set=sequence_set,
    ceiling_auc=ceiling_auc,
    ceiling_spearman=ceiling_spearman,
  )


def read_table(path: str) -> pd.DataFrame:
  """A truth or unseen-sequence CSV, one row per sequence (the first)."""
  try:
    table = pd.read_csv(path)
  except (OSError, ValueError) as e:
    raise TruthScoringError(f'{path}: unreadable: {e}') from e
  if 'sequence' not in table.columns:
    raise TruthScoringError(f'{path}: no sequence column')
  return table.drop_duplicates('sequence').set_index('sequence', drop=False)


def _first_per_sequence(examples: List[bytes]) -> Dict[str, bytes]:
  by_sequence = {}
  for example in examples:
    by_sequence.setdefault(sequence_of(example), example)
  return by_sequence


def score(
  model_dir: str,
  examples: List[bytes],
  truth_csv: str,
  molecule: str = 'target',
  truth: Optional[str] = None,
  batch_size: int = BATCH_SIZE,
) -> TruthScore:
  """ROC-AUC for the true top 1% binders and Spearman, on `examples`.

  Each sequence is scored once (its first example); sequences missing from
  the truth table are left out.

  True binding strength is -log10(Kd) (a low Kd binds tightly); the latent
  affinity is trained to rise with enrichment, so both point the same way.

  Args:
    model_dir: a SavedModel with `serving_default`.
    examples: serialized tf.Examples with a `sequence` feature.
    truth_csv: the simulator's `ground_truth.csv.gz`.
    molecule: scores output `affinity_<molecule>`.
    truth: the true strength to compare with (see `truth_strength`);
      None: `molecule`.
    batch_size: examples per call of the model.
  """
  truth = truth or molecule
  table = read_table(truth_csv)
  by_sequence = _first_per_sequence(examples)
  sequences = [s for s in by_sequence if s in table.index]
  strength = truth_strength(table.loc[sequences], truth)
  predicted = predict_affinity(
    model_dir, [by_sequence[s] for s in sequences], molecule, batch_size
  )
  return _truth_score(molecule, truth, HELD_OUT, predicted, strength)


def _version_key(path: str):
  name = os.path.basename(path)
  return (name.isdigit(), int(name) if name.isdigit() else 0, name)


def find_model(run_dir: str, model_dir: str = '') -> str:
  """`model_dir` (or its Format-Serving), else the newest pushed model."""
  if model_dir:
    serving = os.path.join(model_dir, SERVING_FORMAT_DIRNAME)
    if os.path.isdir(serving):  # A Trainer `Model` artifact.
      model_dir = serving
    if not os.path.exists(os.path.join(model_dir, 'saved_model.pb')):
      raise TruthScoringError(
        f'--model_dir={model_dir}: no SavedModel (saved_model.pb) there'
      )
    return model_dir
  pushed_dir = os.path.join(run_dir, SERVING_MODEL_DIRNAME)
  versions = [
    p
    for p in glob.glob(os.path.join(pushed_dir, '*'))
    if os.path.exists(os.path.join(p, 'saved_model.pb'))
  ]
  if not versions:
    raise TruthScoringError(
      f'{pushed_dir}: no model was pushed (the Pusher pushes only blessed '
      'models); --model_dir can point at a Trainer model instead (its '
      f'{SERVING_FORMAT_DIRNAME} directory)'
    )
  return max(versions, key=_version_key)


def _metadata_path(run_dir: str) -> str:
  return os.path.join(run_dir, METADATA_FILENAME)


def recorded_properties(run_dir: str, node_id: str) -> Optional[Dict]:
  """The exec properties of a node's newest finished execution, or None.

  TFX keeps them as execution properties or custom properties
  (`execution_lib.prepare_execution`); a cached execution has them too.
  """
  store = run_artifacts.open_store(_metadata_path(run_dir))
  if store is None:
    return None
  context = store.get_context_by_type_and_name(
    run_artifacts.NODE_CONTEXT_TYPE,
    run_artifacts.node_context_name(configs.PIPELINE_NAME, node_id),
  )
  if context is None:
    return None
  executions = [
    e
    for e in store.get_executions_by_context(context.id)
    if e.last_known_state in _DONE
  ]
  if not executions:
    return None
  newest = max(executions, key=lambda e: (e.create_time_since_epoch, e.id))
  values = {}
  for properties in (newest.custom_properties, newest.properties):
    for key, value in properties.items():
      kind = value.WhichOneof('value')
      if kind:
        values[key] = getattr(value, kind)
  return values


def recorded_input_base(run_dir: str) -> str:
  """The dataset directory the run's ExampleGen read ('' if none ran)."""
  for node in configs.EXAMPLE_GEN_NODES:
    recorded = recorded_properties(run_dir, node) or {}
    if recorded.get('input_base'):
      return recorded['input_base']
  return ''


def find_dataset(run_dir: str, dataset_dir: str = '') -> str:
  """`dataset_dir`, else the run's ExampleGen `input_base`.

  Raises:
    TruthScoringError: neither names a directory with a ground truth.
  """
  where = f'--dataset_dir={dataset_dir}'
  if not dataset_dir:
    metadata = _metadata_path(run_dir)
    if not os.path.exists(metadata):
      raise TruthScoringError(
        f'{run_dir}: no {METADATA_FILENAME} to find the dataset in; is this '
        'a run directory? (--dataset_dir names the dataset)'
      )
    dataset_dir = recorded_input_base(run_dir)
    if not dataset_dir:
      raise TruthScoringError(
        f'{metadata}: no finished ExampleGen execution with an '
        'input_base; --dataset_dir names the dataset'
      )
    where = f"{dataset_dir} (the run's ExampleGen input_base)"
  if not os.path.isdir(dataset_dir):
    raise TruthScoringError(f'{where}: no such directory')
  truth = os.path.join(dataset_dir, TRUTH_FILENAME)
  if not os.path.exists(truth):
    raise TruthScoringError(
      f'{truth}: no such file; only simulated datasets have a ground truth'
    )
  return dataset_dir


def held_out_examples(
  run_dir: str, structure: bool
) -> Tuple[List[bytes], bool]:
  """The latest held-out split of the run and whether it has structure.

  StructureFeatures' output when `structure` (the model reads structure
  features) and the run has one, the ExampleGen's otherwise.

  Returns:
    (serialized examples, whether they carry the structure features).
  """
  metadata = _metadata_path(run_dir)
  if not os.path.exists(metadata):
    raise TruthScoringError(
      f'{run_dir}: no {METADATA_FILENAME}; is this a run directory?'
    )

  def latest(node_id):
    return run_artifacts.latest_output(
      metadata, configs.PIPELINE_NAME, node_id, type_name='Examples'
    )

  examples = latest('StructureFeatures') if structure else None
  featured = examples is not None
  for node in configs.EXAMPLE_GEN_NODES:
    examples = examples or latest(node)
  if examples is None:
    raise TruthScoringError(f'{metadata}: no ExampleGen output')
  for split in HELD_OUT_SPLITS:
    split_dir = os.path.join(examples.uri, f'Split-{split}')
    if os.path.isdir(split_dir):
      return read_examples(split_dir), featured
  raise TruthScoringError(
    f'{examples.uri}: no Split-{HELD_OUT_SPLITS[0]} (or '
    f'Split-{HELD_OUT_SPLITS[1]}) directory'
  )


def folding_parameters(
  run_dir: str, dataset_dir: str
) -> folding.FoldingParameters:
  """How the run's StructureFeatures folded (its defaults if not recorded).

  Primers, when the run folded with them, are the dataset's
  (experiment.pbtxt), else the recorded ones.
  """
  recorded = recorded_properties(run_dir, 'StructureFeatures') or {}
  properties = dict(structure_executor.DEFAULT_EXEC_PROPERTIES)
  properties.update(recorded)
  experiment_path = os.path.join(
    dataset_dir, experiment_lib.EXPERIMENT_FILENAME
  )
  if properties[structure_executor.INCLUDE_PRIMERS_KEY] and os.path.exists(
    experiment_path
  ):
    try:
      experiment = experiment_lib.load_experiment(experiment_path)
    except experiment_lib.ExperimentError as e:
      raise TruthScoringError(str(e)) from e
    properties[structure_executor.FORWARD_PRIMER_KEY] = (
      experiment.forward_primer
    )
    properties[structure_executor.REVERSE_PRIMER_KEY] = (
      experiment.reverse_primer
    )
  try:
    return structure_executor.folding_parameters(properties)
  except structure_executor.StructureFeaturesError as e:
    raise TruthScoringError(f'folding parameters: {e}') from e


@dataclasses.dataclass
class RunScores:
  """Every score of one model on one dataset."""

  model_dir: str
  dataset_dir: str
  scores: List[TruthScore]
  notes: List[str] = dataclasses.field(default_factory=list)

  def as_dict(self) -> Dict[str, Any]:
    return {
      'model_dir': self.model_dir,
      'dataset_dir': self.dataset_dir,
      'top_fraction': TOP_FRACTION,
      'notes': list(self.notes),
      'scores': [s.as_dict() for s in self.scores],
    }


def _unseen_sets(table: pd.DataFrame, path: str) -> List[Tuple[str, Any]]:
  """(sequence set name, row mask) for the random and mutant sequences."""
  missing = [c for c in ('kind', 'hamming') if c not in table.columns]
  if missing:
    raise TruthScoringError(f'{path}: no {" or ".join(missing)} column')
  kind = table['kind'].astype(str).to_numpy()
  sets = [
    (UNSEEN_RANDOM, kind == 'random'),
    (UNSEEN_MUTANTS, kind == 'mutant'),
  ]
  hamming = table['hamming'].to_numpy()
  for distance in sorted(set(hamming[kind == 'mutant'].tolist())):
    sets.append(
      (
        f'{UNSEEN_MUTANTS}, hamming {int(distance)}',
        (kind == 'mutant') & (hamming == distance),
      )
    )
  return sets


def unseen_ceilings(
  dataset_dir: str, truths: Sequence[str]
) -> List[Tuple[str, str, float, float]]:
  """The ceilings on a dataset's unseen sets, without any model.

  Args:
    dataset_dir: a simulated dataset (truth model and unseen sequences).
    truths: the true strengths to rank (see `truth_strength`).

  Returns:
    (truth, sequence set, ceiling ROC-AUC, ceiling Spearman) per truth and
    unseen set (random, mutants, mutants per Hamming distance).

  Raises:
    TruthScoringError: no unseen file or column.
    simulation.oracle.OracleError: no truth model.
  """
  path = os.path.join(dataset_dir, UNSEEN_FILENAME)
  table = read_table(path)
  truth_oracle = oracle_lib.TruthOracle.from_dataset(dataset_dir)
  sequences = table['sequence'].astype(str).tolist()
  out = []
  for truth in truths:
    strength = truth_strength(table, truth)
    free = truth_oracle.strength(sequences, truth, noise=False)
    for set_name, mask in _unseen_sets(table, path):
      _, _, auc, spearman = rank_scores(free[mask], strength[mask])
      out.append((truth, set_name, auc, spearman))
  return out


def score_run(
  run_dir: str,
  unseen: bool = False,
  dataset_dir: str = '',
  model_dir: str = '',
  batch_size: int = BATCH_SIZE,
) -> RunScores:
  """Scores a run's served latent affinities against the ground truth.

  Args:
    run_dir: `<save_base>/<run_name>` (metadata.db, serving_model/).
    unseen: also score the dataset's unseen sequences (random and mutants,
      the mutants per Hamming distance too).
    dataset_dir: the simulated dataset; '' = the run's ImportExampleGen
      input_base.
    model_dir: a SavedModel (or a Trainer model); '' = the newest model
      pushed to `<run_dir>/serving_model/`.
    batch_size: sequences per call of the model.

  Returns:
    A score per affinity output, truth and sequence set.

  Raises:
    TruthScoringError: a directory, file or column is missing.
  """
  if not os.path.isdir(run_dir):
    raise TruthScoringError(f'{run_dir}: no such run directory')
  model_dir = find_model(run_dir, model_dir)
  dataset_dir = find_dataset(run_dir, dataset_dir)
  unseen_csv = os.path.join(dataset_dir, UNSEEN_FILENAME)
  if unseen and not os.path.exists(unseen_csv):
    raise TruthScoringError(
      f"{unseen_csv}: no such file (--unseen scores the simulator's unseen "
      'sequences)'
    )
  truth_csv = os.path.join(dataset_dir, TRUTH_FILENAME)
  truth_table = read_table(truth_csv)
  unseen_table = read_table(unseen_csv) if unseen else None
  model = ServedModel(model_dir)
  result = RunScores(model_dir, dataset_dir, [])
  try:
    oracle = oracle_lib.TruthOracle.from_dataset(dataset_dir)
  except oracle_lib.OracleError as e:
    oracle = None
    result.notes.append(f'no ceilings: {e}')

  # (molecule, truth) pairs every table can compute.
  pairs = []
  for molecule in model.molecules:
    for truth in truths_of(molecule):
      for path, table in ((truth_csv, truth_table), (unseen_csv, unseen_table)):
        problem = table is not None and truth_problem(table.columns, truth)
        if problem:
          result.notes.append(
            f'{encodings.affinity_output_name(molecule)} vs true {truth}: '
            f'not scored ({os.path.basename(path)} has {problem})'
          )
          break
      else:
        pairs.append((molecule, truth))
  if not pairs:
    raise TruthScoringError(
      f'{model_dir}: no {AFFINITY_PREFIX}<molecule> output with a truth in '
      f'{truth_csv}' + ''.join(f'; {n}' for n in result.notes)
    )
  parameters = None
  if model.structure_inputs:
    parameters = folding_parameters(run_dir, dataset_dir)

  def predict_sequences(sequences):
    structure = None
    if parameters is not None:
      structure = fold_features(sequences, parameters, model.structure_inputs)
    return model.predict_sequences(sequences, structure, batch_size)

  examples, featured = held_out_examples(run_dir, bool(model.structure_inputs))
  by_sequence = _first_per_sequence(examples)
  sequences = [s for s in by_sequence if s in truth_table.index]
  if model.structure_inputs and not featured:
    # No StructureFeatures output to read: fold as the run folded.
    predicted = predict_sequences(sequences)
  else:
    predicted = model.predict_examples(
      [by_sequence[s] for s in sequences], batch_size
    )
  sets = [(HELD_OUT, truth_table.loc[sequences], predicted, None)]
  if unseen_table is not None:
    predicted = predict_sequences(unseen_table['sequence'].astype(str).tolist())
    for name, mask in _unseen_sets(unseen_table, unseen_csv):
      sets.append((name, unseen_table, predicted, mask))
  deterministic = {}  # (truth, table) -> the noise-free strength per row.
  for molecule, truth in pairs:
    output = encodings.affinity_output_name(molecule)
    for name, table, predicted, mask in sets:
      strength = truth_strength(table, truth)
      values = predicted[output]
      ceiling = None
      if oracle is not None:
        key = (truth, id(table))
        if key not in deterministic:
          deterministic[key] = oracle.strength(
            table['sequence'].astype(str).tolist(), truth, noise=False
          )
        ceiling = deterministic[key]
      if mask is not None:
        strength, values = strength[mask], values[mask]
        ceiling = None if ceiling is None else ceiling[mask]
      result.scores.append(
        _truth_score(molecule, truth, name, values, strength, ceiling)
      )
  return result


def _number(value: float) -> str:
  return 'n/a' if math.isnan(value) else f'{value:.3f}'


def format_table(result: RunScores) -> str:
  """The scores as an aligned text table, with the model and dataset."""
  header = ['output', 'truth', 'sequences', 'n', 'true top', 'ROC-AUC']
  header.extend(['Spearman', 'ceiling AUC', 'ceiling Spearman'])
  rows = [
    [
      s.output,
      s.truth,
      s.sequence_set,
      str(s.num_sequences),
      str(s.num_true_top),
      _number(s.auc_true_top_1p),
      _number(s.spearman),
      _number(s.ceiling_auc),
      _number(s.ceiling_spearman),
    ]
    for s in result.scores
  ]
  widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
  left = 3  # Text columns; the numbers are right-aligned.

  def line(cells):
    parts = [
      c.ljust(w) if i < left else c.rjust(w)
      for i, (c, w) in enumerate(zip(cells, widths))
    ]
    return '  '.join(parts).rstrip()

  lines = [
    f'model:   {result.model_dir}',
    f'dataset: {result.dataset_dir}',
    f"true top: strength above the set's {100 * (1 - TOP_FRACTION):g}th "
    'percentile; strength -log10(Kd), a_vs_b: -log10(a_kd) + log10(b_kd)',
    'ceiling: the same scores of the truth without its noise term, the best '
    'a model of the sequence can expect on unseen sequences',
    '',
    line(header),
  ]
  lines.extend(line(r) for r in rows)
  lines.extend(f'note: {n}' for n in result.notes)
  return '\n'.join(lines)


def write_json(result: RunScores, path: str) -> None:
  """The scores as JSON (NaN as null)."""
  try:
    with open(path, 'w') as f:
      json.dump(result.as_dict(), f, indent=2, allow_nan=False)
      f.write('\n')
  except OSError as e:
    raise TruthScoringError(f'--json={path}: cannot write: {e}') from e
