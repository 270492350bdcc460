"""Scores sequences with one or more trained replica models.

Each model is a SavedModel (a pushed model directory or a Trainer `Model`
artifact, whose SavedModel is under `Format-Serving`) with a
`serve_sequences` signature (see components/model/signatures.py). A model
with structure inputs is fed the ViennaRNA features it needs, folded here
with the StructureFeatures component's parameters (its defaults unless
given).

`SequenceScorer.score` returns one column per quantity, rows in input order:

  * `sequence`;
  * per molecule m, `affinity_<m>_mean` and `affinity_<m>_std`: the latent
    affinity (higher binds tighter) averaged over the replicas, and its
    sample standard deviation over them (ddof=1); a single ReplicaMean
    model (components/model/replica_mean.py) gives its replicas' spread
    from its `serve_sequences_spread` signature; any other single model's
    std is 0.0, never NaN, so the column stays numeric and sortable;
  * per other output (the predicted normalised count of each read column,
    keyed by read name), its mean over the replicas.

Every replica must have the same outputs and structure inputs. Values are
float32, averaged in float64. `ScoreSequences` does the same as a Beam
PTransform yielding one column batch per batch of sequences (each worker
loads the models once, in `DoFn.setup`), and
`score_file` scores a sequence file into a table, with a progress bar.

TFX 1.16's BulkInferrer cannot load Keras 3 SavedModels, hence this DoFn.
"""

import os
from typing import Any
from typing import Callable
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Sequence

import apache_beam as beam
from apache_beam.options import pipeline_options
import numpy as np
import tensorflow as tf

from components.design import sequence_io
from components.features import encodings
from components.features.structure import folding
from components.model import replica_mean

AFFINITY_PREFIX = encodings.affinity_output_name('')
SEQUENCES_INPUT = 'sequences'  # serve_sequences' sequence input.
SEQUENCE_COLUMN = 'sequence'
NAME_COLUMN = 'name'
# A Trainer `Model` artifact keeps its SavedModel here.
SERVING_FORMAT_DIRNAME = 'Format-Serving'
BATCH_SIZE = 4096  # Sequences per model call; larger ones ran slower on CPU.
MIN_BEAM_BATCH = 1024
MAX_BEAM_BATCH = 16384
MEAN_SUFFIX = '_mean'
STD_SUFFIX = '_std'
_BASES = frozenset('ACGT')


class ScoringError(ValueError):
  """What the user can fix: a missing or mismatched model, a bad sequence."""


def mean_column(output: str) -> str:
  return output + MEAN_SUFFIX


def std_column(output: str) -> str:
  return output + STD_SUFFIX


def saved_model_dir(path: str) -> str:
  """The SavedModel directory of a pushed model or a Trainer model.

  Raises:
    ScoringError: neither `path` nor `path/Format-Serving` holds one.
  """
  serving = os.path.join(path, SERVING_FORMAT_DIRNAME)
  if os.path.isdir(serving):
    path = serving
  if not os.path.exists(os.path.join(path, 'saved_model.pb')):
    raise ScoringError(
      f'{path}: no SavedModel (saved_model.pb) there, nor under '
      f'{SERVING_FORMAT_DIRNAME}/'
    )
  return path


def default_folding_parameters() -> folding.FoldingParameters:
  """What a StructureFeatures component with default arguments folds with."""
  # Imported here: it pulls in TFX (seconds per Beam worker), and only
  # models with structure inputs need it.
  from components.features.structure import executor as structure_executor

  return structure_executor.folding_parameters(
    structure_executor.DEFAULT_EXEC_PROPERTIES
  )


class ServedModel:
  """A loaded SavedModel's affinity outputs and serving signatures."""

  def __init__(self, model_dir: str):
    self.model_dir = model_dir
    try:
      loaded = tf.saved_model.load(model_dir)
    except (OSError, ValueError) as e:
      raise ScoringError(f'{model_dir}: not a SavedModel: {e}') from e
    self._loaded = loaded  # The signatures need it alive.
    signatures = loaded.signatures
    if 'serving_default' not in signatures:
      raise ScoringError(f'{model_dir}: no serving_default signature')
    self._default = signatures['serving_default']
    self._sequences = (
      signatures['serve_sequences'] if 'serve_sequences' in signatures else None
    )
    # A ReplicaMean's standard deviation over its replicas.
    self._spread = (
      signatures[replica_mean.SPREAD_SIGNATURE]
      if replica_mean.SPREAD_SIGNATURE in signatures
      else None
    )
    self.affinity_outputs = sorted(
      k
      for k in self._default.structured_outputs
      if k.startswith(AFFINITY_PREFIX)
    )
    self.structure_inputs = []
    self.outputs = sorted(self._default.structured_outputs)
    if self._sequences is not None:
      inputs = self._sequences.structured_input_signature[1]
      self.structure_inputs = sorted(set(inputs) - {SEQUENCES_INPUT})
      self.outputs = sorted(self._sequences.structured_outputs)
    unknown = sorted(set(self.structure_inputs) - set(folding.FEATURES))
    if unknown:
      raise ScoringError(
        f'{model_dir}: serve_sequences inputs {unknown} are not ViennaRNA '
        f'features {list(folding.FEATURES)}'
      )

  @property
  def molecules(self) -> List[str]:
    return [o[len(AFFINITY_PREFIX) :] for o in self.affinity_outputs]

  @property
  def has_spread(self) -> bool:
    """Whether the model serves its replicas' spread (a ReplicaMean)."""
    return self._spread is not None

  @property
  def other_outputs(self) -> List[str]:
    """Outputs that are not affinities: the read columns' counts."""
    return [o for o in self.outputs if not o.startswith(AFFINITY_PREFIX)]

  def _batched(self, call, count: int, batch_size: int, outputs):
    out = {o: [] for o in outputs}
    for start in range(0, count, batch_size):
      result = call(start, start + batch_size)
      for o in outputs:
        out[o].append(np.asarray(result[o]).reshape(-1))
    return {
      o: np.concatenate(v) if v else np.zeros(0, np.float32)
      for o, v in out.items()
    }

  def predict_examples(
    self, examples: List[bytes], batch_size: int = BATCH_SIZE
  ) -> Dict[str, np.ndarray]:
    """Every affinity output for serialized examples (`serving_default`)."""

    def call(start, end):
      return self._default(examples=tf.constant(examples[start:end]))

    return self._batched(call, len(examples), batch_size, self.affinity_outputs)

  def predict_sequences(
    self,
    sequences: List[str],
    structure: Optional[Dict[str, np.ndarray]] = None,
    batch_size: int = BATCH_SIZE,
    outputs: Optional[Sequence[str]] = None,
  ) -> Dict[str, np.ndarray]:
    """Outputs for raw sequences (`serve_sequences`).

    Args:
      sequences: the variable regions.
      structure: each of `structure_inputs`, one value per sequence.
      batch_size: sequences per call of the model.
      outputs: the outputs to return; None: the affinity outputs.
    """
    if self._sequences is None:
      raise ScoringError(
        f'{self.model_dir}: no serve_sequences signature (needed to score '
        'sequences that are not examples)'
      )
    return self._call_sequences(
      self._sequences, sequences, structure, batch_size, outputs
    )

  def predict_spread(
    self,
    sequences: List[str],
    structure: Optional[Dict[str, np.ndarray]] = None,
    batch_size: int = BATCH_SIZE,
    outputs: Optional[Sequence[str]] = None,
  ) -> Dict[str, np.ndarray]:
    """A ReplicaMean's standard deviation over its replicas, per output.

    Raises:
      ScoringError: the model is not a ReplicaMean (`has_spread`).
    """
    if self._spread is None:
      raise ScoringError(
        f'{self.model_dir}: no {replica_mean.SPREAD_SIGNATURE} signature '
        "(only a ReplicaMean model serves its replicas' spread)"
      )
    return self._call_sequences(
      self._spread, sequences, structure, batch_size, outputs
    )

  def _call_sequences(
    self, signature, sequences, structure, batch_size, outputs
  ):
    structure = structure or {}

    def call(start, end):
      inputs = {SEQUENCES_INPUT: tf.constant(sequences[start:end])}
      for name in self.structure_inputs:
        inputs[name] = tf.constant(structure[name][start:end], tf.float32)
      return signature(**inputs)

    return self._batched(
      call,
      len(sequences),
      batch_size,
      self.affinity_outputs if outputs is None else list(outputs),
    )


def fold_features(
  sequences: Sequence[str],
  parameters: folding.FoldingParameters,
  names: Sequence[str],
) -> Dict[str, np.ndarray]:
  """The structure features `names` of each sequence, as float32."""
  out = {name: np.zeros(len(sequences), np.float32) for name in names}
  if not names:
    return out
  # Only the features the model reads: each costs its own ViennaRNA work.
  parameters = parameters.with_features(names)
  for i, sequence in enumerate(sequences):
    try:
      features = folding.fold(sequence, parameters)
    except folding.FoldingError as e:
      raise ScoringError(f'cannot fold: {e}') from e
    for name in names:
      out[name][i] = features[name]
  return out


def check_sequences(sequences: Sequence[str]) -> None:
  """Raises ScoringError naming the first sequence that is not A/C/G/T."""
  if _BASES.issuperset(''.join(sequences)) and all(sequences):
    return
  for i, sequence in enumerate(sequences):
    if not sequence or not _BASES.issuperset(sequence):
      raise ScoringError(
        f'sequence {i} ({sequence!r}) is empty or not upper-case A/C/G/T'
      )


class SequenceScorer:
  """Scores sequences with every replica model and summarises them.

  Attributes:
    models: the loaded replicas.
    molecules: m of each `affinity_<m>` output.
    other_outputs: the read columns' count outputs.
    structure_inputs: the structure features the models read (folded here).
    columns: the names of `score`'s columns, in order.
  """

  def __init__(
    self,
    model_dirs: Sequence[str],
    folding_parameters: Optional[folding.FoldingParameters] = None,
    batch_size: int = BATCH_SIZE,
  ):
    """Loads every replica.

    Args:
      model_dirs: SavedModels or Trainer models (`Format-Serving`), one per
        replica.
      folding_parameters: how to fold for models with structure inputs;
        None: the StructureFeatures component's defaults.
      batch_size: sequences per model call.

    Raises:
      ScoringError: no model, not a SavedModel, no serve_sequences, or the
        replicas' outputs or structure inputs differ.
    """
    if isinstance(model_dirs, str):
      model_dirs = [model_dirs]
    if not model_dirs:
      raise ScoringError('no model to score with')
    if batch_size < 1:
      raise ScoringError(f'batch_size must be positive, got {batch_size}')
    self.batch_size = batch_size
    self.models = [ServedModel(saved_model_dir(d)) for d in model_dirs]
    first = self.models[0]
    for model in self.models:
      if model._sequences is None:
        raise ScoringError(f'{model.model_dir}: no serve_sequences signature')
      if (model.outputs, model.structure_inputs) != (
        first.outputs,
        first.structure_inputs,
      ):
        raise ScoringError(
          f'replicas differ: {first.model_dir} has outputs {first.outputs} '
          f'and structure inputs {first.structure_inputs}, '
          f'{model.model_dir} has outputs {model.outputs} and structure '
          f'inputs {model.structure_inputs}'
        )
    if not first.affinity_outputs:
      raise ScoringError(f'{first.model_dir}: no {AFFINITY_PREFIX}* output')
    self.molecules = first.molecules
    self.other_outputs = first.other_outputs
    self.structure_inputs = list(first.structure_inputs)
    self.folding_parameters = folding_parameters
    if self.structure_inputs and folding_parameters is None:
      self.folding_parameters = default_folding_parameters()
    self.columns = [SEQUENCE_COLUMN]
    for output in first.affinity_outputs:
      self.columns += [mean_column(output), std_column(output)]
    self.columns += self.other_outputs

  def score(self, sequences: Sequence[str]) -> Dict[str, np.ndarray]:
    """The columns (see the module docstring) for `sequences`, in order.

    Raises:
      ScoringError: a sequence is empty or not upper-case A/C/G/T.
    """
    sequences = list(sequences)
    check_sequences(sequences)
    structure = None
    if self.structure_inputs:
      structure = fold_features(
        sequences, self.folding_parameters, self.structure_inputs
      )
    outputs = self.models[0].outputs
    predictions = [
      m.predict_sequences(sequences, structure, self.batch_size, outputs)
      for m in self.models
    ]
    result = {SEQUENCE_COLUMN: np.array(sequences, dtype=object)}
    spread = None
    if len(self.models) == 1 and self.models[0].has_spread:
      spread = self.models[0].predict_spread(
        sequences, structure, self.batch_size, self.models[0].affinity_outputs
      )
    for output in self.models[0].affinity_outputs:
      values = np.stack([p[output] for p in predictions]).astype(np.float64)
      result[mean_column(output)] = values.mean(axis=0).astype(np.float32)
      if len(predictions) > 1:
        std = values.std(axis=0, ddof=1)
      elif spread is not None:
        std = spread[output]
      else:
        std = np.zeros(len(sequences))
      result[std_column(output)] = np.asarray(std, np.float32)
    for output in self.other_outputs:
      values = np.stack([p[output] for p in predictions]).astype(np.float64)
      result[output] = values.mean(axis=0).astype(np.float32)
    return {c: result[c] for c in self.columns}


def rows_of(columns: Dict[str, np.ndarray]) -> Iterable[Dict[str, Any]]:
  """One dict per row, numbers as Python floats."""
  names = list(columns)
  lists = [columns[n].tolist() for n in names]
  for values in zip(*lists):
    yield dict(zip(names, values))


def concatenate(batches: Iterable[Dict[str, np.ndarray]]) -> Dict[str, Any]:
  """One table of `score`'s columns from several batches, in their order."""
  batches = list(batches)
  if not batches:
    return {}
  return {c: np.concatenate([b[c] for b in batches]) for c in batches[0]}


def worker_threads(options) -> Optional[int]:
  """TensorFlow threads per worker so the DirectRunner's workers share cores.

  Args:
    options: the pipeline's PipelineOptions.

  Returns:
    cores // workers (at least 1) on a DirectRunner running several workers
    in processes or threads on this machine; None (TensorFlow's default:
    every core) otherwise, as a remote worker owns its machine.
  """
  if options is None:
    return None
  direct = options.view_as(pipeline_options.DirectOptions)
  if direct.direct_running_mode not in ('multi_processing', 'multi_threading'):
    return None
  cores = os.cpu_count() or 1
  workers = direct.direct_num_workers or cores  # 0: one per core.
  if workers <= 1:
    return None
  return max(1, cores // workers)


class _ScoreBatches(beam.DoFn):
  """Scores batches of sequences; each worker loads the models in setup."""

  def __init__(self, model_dirs, folding_parameters, batch_size, threads, rows):
    self._model_dirs = list(model_dirs)
    self._folding_parameters = folding_parameters
    self._batch_size = batch_size
    self._threads = threads
    self._rows = rows
    self._scorer = None

  def setup(self):
    if self._threads:
      try:  # Only possible before this process first ran TensorFlow.
        tf.config.threading.set_intra_op_parallelism_threads(self._threads)
        tf.config.threading.set_inter_op_parallelism_threads(self._threads)
      except RuntimeError:
        pass
    self._scorer = SequenceScorer(
      self._model_dirs, self._folding_parameters, self._batch_size
    )

  def process(self, batch: List[str]):
    columns = self._scorer.score(batch)
    if self._rows:
      yield from rows_of(columns)
    else:
      # One element per batch: Beam encodes a few arrays, not a dict a row.
      yield columns


class ScoreSequences(beam.PTransform):
  """PCollection of sequence strings -> PCollection of scored batches.

  Each output element is one batch as `SequenceScorer.score` returns it: a
  dict of `SequenceScorer.columns` to equal-length numpy arrays (`concatenate`
  joins them; `rows=True` yields one row dict per sequence instead, which is
  several times slower between processes). Sequences are batched with
  `beam.BatchElements` (between `min_batch_size` and `max_batch_size`), so
  the model runs on large tensors whatever the bundle sizes.
  """

  def __init__(
    self,
    model_dirs: Sequence[str],
    folding_parameters: Optional[folding.FoldingParameters] = None,
    min_batch_size: int = MIN_BEAM_BATCH,
    max_batch_size: int = MAX_BEAM_BATCH,
    model_batch_size: int = BATCH_SIZE,
    threads_per_worker: Optional[int] = None,
    rows: bool = False,
  ):
    """Checks the models can be found (they load on the workers).

    Args:
      model_dirs: one SavedModel (or Trainer model) per replica.
      folding_parameters: see `SequenceScorer`.
      min_batch_size: smallest batch BatchElements forms.
      max_batch_size: largest batch BatchElements forms.
      model_batch_size: sequences per model call inside a batch.
      threads_per_worker: TensorFlow intra- and inter-op threads of each
        worker process; None: `worker_threads` of the pipeline's options
        (the cores shared among a local runner's workers, else all cores).
      rows: yield one dict per sequence instead of one per batch.
    """
    super().__init__()
    self._model_dirs = _saved_model_dirs(model_dirs)
    self._folding_parameters = folding_parameters
    self._min_batch_size = min_batch_size
    self._max_batch_size = max_batch_size
    self._model_batch_size = model_batch_size
    self._threads = threads_per_worker
    self._rows = rows

  def expand(self, sequences):
    return (
      sequences
      | 'Batch'
      >> beam.BatchElements(
        min_batch_size=self._min_batch_size,
        max_batch_size=self._max_batch_size,
      )
      | 'Score'
      >> ScoreSequenceBatches(
        self._model_dirs,
        self._folding_parameters,
        self._model_batch_size,
        self._threads,
        self._rows,
      )
    )


def _saved_model_dirs(model_dirs) -> List[str]:
  """Every replica's SavedModel directory; at least one."""
  if isinstance(model_dirs, str):
    model_dirs = [model_dirs]
  dirs = [saved_model_dir(d) for d in model_dirs]
  if not dirs:
    raise ScoringError('no model to score with')
  return dirs


class ScoreSequenceBatches(beam.PTransform):
  """PCollection of lists of sequences -> PCollection of scored batches.

  Like `ScoreSequences` for input that is already batched (see `batches_of`):
  a `beam.Create` of a few large lists costs far less than one of many
  strings, which Beam encodes and reshuffles one by one.
  """

  def __init__(
    self,
    model_dirs: Sequence[str],
    folding_parameters: Optional[folding.FoldingParameters] = None,
    model_batch_size: int = BATCH_SIZE,
    threads_per_worker: Optional[int] = None,
    rows: bool = False,
  ):
    """See `ScoreSequences`."""
    super().__init__()
    self._model_dirs = _saved_model_dirs(model_dirs)
    self._folding_parameters = folding_parameters
    self._model_batch_size = model_batch_size
    self._threads = threads_per_worker
    self._rows = rows

  def expand(self, batches):
    threads = self._threads
    if threads is None:
      threads = worker_threads(batches.pipeline.options)
    return batches | 'ScoreBatches' >> beam.ParDo(
      _ScoreBatches(
        self._model_dirs,
        self._folding_parameters,
        self._model_batch_size,
        threads,
        self._rows,
      )
    )


def batches_of(
  sequences: Sequence[str],
  parts: int = 64,
  min_size: int = MIN_BEAM_BATCH,
  max_size: int = MAX_BEAM_BATCH,
) -> List[List[str]]:
  """`sequences` cut into about `parts` lists of min_size..max_size each.

  Many parts let the runner spread them over its workers; each stays large
  enough for the model to run on big tensors.
  """
  sequences = list(sequences)
  size = -(-len(sequences) // parts)  # Ceiling division.
  size = max(min_size, min(max_size, size))
  return [sequences[i : i + size] for i in range(0, len(sequences), size)]


def write_batches(sequences: Sequence[str], directory: str) -> List[str]:
  """Writes `batches_of(sequences)` as text files, one sequence per line.

  A pipeline then creates only the paths and its workers read the
  sequences (`read_batch`): `beam.Create` of the sequences themselves
  pickles every one into the pipeline and ships it through the runner,
  22 s of 26 for a million 40-mers on 2 DirectRunner workers, against 4 s
  this way (benchmarks/RESULTS.md, Scoring throughput).

  Args:
    directory: created if missing; local or any tf.io.gfile filesystem.

  Returns:
    The files' paths, in the sequences' order.
  """
  tf.io.gfile.makedirs(directory)
  paths = []
  for i, batch in enumerate(batches_of(sequences)):
    path = os.path.join(directory, f'sequences-{i:05d}.txt')
    with tf.io.gfile.GFile(path, 'w') as f:
      f.write('\n'.join(batch))
    paths.append(path)
  return paths


def read_batch(path: str) -> List[str]:
  """The sequences of one `write_batches` file."""
  with tf.io.gfile.GFile(path) as f:
    text = f.read()
  return text.split('\n') if text else []


def score_records(
  scorer: SequenceScorer,
  records: sequence_io.SequenceRecords,
  progress: Optional[Callable[[int], None]] = None,
  chunk_size: int = 65536,
) -> Dict[str, np.ndarray]:
  """Scores records in chunks; adds a `name` column if they have names."""
  parts = []
  sequences = records.sequences
  for start in range(0, len(sequences), chunk_size):
    chunk = sequences[start : start + chunk_size]
    parts.append(scorer.score(chunk))
    if progress is not None:
      progress(len(chunk))
  columns = {c: np.concatenate([p[c] for p in parts]) for c in scorer.columns}
  if records.names is not None:
    columns = {
      SEQUENCE_COLUMN: columns.pop(SEQUENCE_COLUMN),
      NAME_COLUMN: np.array(records.names, dtype=object),
      **columns,
    }
  return columns


def score_file(
  model_dirs: Sequence[str],
  input_path: str,
  output_path: str,
  folding_parameters: Optional[folding.FoldingParameters] = None,
  batch_size: int = BATCH_SIZE,
  sequence_length: Optional[int] = None,
  input_format: Optional[str] = None,
  show_progress: bool = True,
) -> Dict[str, Any]:
  """Scores a sequence file (see sequence_io) into a CSV or Parquet table.

  The input is read and checked in full before any model is loaded; the
  table is written atomically.

  Returns:
    A summary: `scored` (rows), `output`, `molecules`, `models`.

  Raises:
    SequenceFileError: a bad input file or output extension.
    ScoringError: a bad model.
  """
  sequence_io.table_kind(output_path)  # Fail before the work.
  records = sequence_io.read_records(input_path, sequence_length, input_format)
  scorer = SequenceScorer(model_dirs, folding_parameters, batch_size)
  if show_progress:
    import tqdm  # Only the command line shows progress.

    with tqdm.tqdm(
      total=len(records.sequences), unit='seq', desc='scoring'
    ) as bar:
      columns = score_records(scorer, records, bar.update)
  else:
    columns = score_records(scorer, records)
  sequence_io.write_table(output_path, columns)
  return {
    'scored': len(records.sequences),
    'output': output_path,
    'molecules': list(scorer.molecules),
    'models': [m.model_dir for m in scorer.models],
  }
