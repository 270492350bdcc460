"""ScoreSequences: a TFX component scoring a sequence file with replicas.

A fan-in over N replica models (inputs `model_0 .. model_{N-1}`, Trainer
`Model` artifacts or anything whose URI is a SavedModel), so that it
compiles for Kubeflow too (see components/search/fan_in.py). The Beam
executor reads and checks the whole input file first (a bad file raises
`SequenceFileError` before any model is loaded), scores each distinct
sequence once with `scoring.ScoreSequences` on the pipeline's Beam runner
(its column batches travel as Arrow IPC records in TFRecord shards), and
writes the `SequenceScores` artifact: `scores.csv` and `scores.parquet`,
one row per input sequence in file order, with the columns of
`scoring.SequenceScorer` (and `name` when the file names its records).
"""

import json
import os
import shutil
import tempfile
from typing import Any
from typing import Dict
from typing import List
import uuid

from absl import logging
import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components.design import scoring
from components.design import sequence_io
from components.features.structure import executor as structure_executor
from components.search import fan_in

MODEL_PREFIX = 'model'
SCORES_KEY = 'scores'
INPUT_PATH_KEY = 'input_path'
SEQUENCE_LENGTH_KEY = 'sequence_length'  # '' = any length.
# JSON of StructureFeatures exec properties ('' = its defaults); used only
# by models with structure inputs.
FOLDING_KEY = 'folding_properties'
SCORES_CSV = 'scores.csv'
SCORES_PARQUET = 'scores.parquet'
SCORED_PROPERTY = 'scored'
UNIQUE_PROPERTY = 'unique_sequences'
_SHARDS_PREFIX = '.score-shards-'


class SequenceScores(types.Artifact):
  """Scores of a sequence file's sequences (scores.csv, scores.parquet)."""

  TYPE_NAME = 'components.SequenceScores'  # See components/__init__.py.


def _folding_parameters(text: str):
  properties = dict(structure_executor.DEFAULT_EXEC_PROPERTIES)
  if text:
    try:
      properties.update(json.loads(text))
    except (ValueError, TypeError) as e:
      raise scoring.ScoringError(
        f'{FOLDING_KEY}: not a JSON object: {e}'
      ) from e
  try:
    return structure_executor.folding_parameters(properties)
  except (ValueError, TypeError) as e:  # StructureFeaturesError included.
    raise scoring.ScoringError(f'{FOLDING_KEY} {properties}: {e}') from e


def _sequence_length(text: str):
  if not str(text).strip():
    return None
  try:
    return int(text)
  except ValueError as e:
    raise scoring.ScoringError(
      f'{SEQUENCE_LENGTH_KEY}: not an integer: {text!r}'
    ) from e


class Executor(base_beam_executor.BaseBeamExecutor):
  """Scores the input file's sequences with every replica model."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    """Reads and checks the input, scores it on Beam, writes the tables.

    Args:
      input_dict: `model_<i>`, one model artifact per replica.
      output_dict: `scores`, one SequenceScores artifact.
      exec_properties: `input_path`, `sequence_length`, `folding_properties`.

    Raises:
      SequenceFileError: a bad input file (nothing is scored or written).
      ScoringError: a missing or mismatched model, a bad parameter.
    """
    self._log_startup(input_dict, output_dict, exec_properties)
    input_path = exec_properties.get(INPUT_PATH_KEY) or ''
    if not input_path:
      raise sequence_io.SequenceFileError(f'{INPUT_PATH_KEY} is empty')
    records = sequence_io.read_records(
      input_path,
      _sequence_length(exec_properties.get(SEQUENCE_LENGTH_KEY) or ''),
    )
    count = fan_in.branch_count(input_dict, MODEL_PREFIX)
    model_dirs = [
      scoring.saved_model_dir(
        artifact_utils.get_single_uri(input_dict[f'{MODEL_PREFIX}_{i}'])
      )
      for i in range(count)
    ]
    parameters = _folding_parameters(exec_properties.get(FOLDING_KEY) or '')
    output = artifact_utils.get_single_instance(output_dict[SCORES_KEY])
    unique = sorted(set(records.sequences))
    logging.info(
      'ScoreSequences: %d sequences (%d distinct) from %s, %d replicas',
      len(records.sequences),
      len(unique),
      input_path,
      count,
    )
    shards = os.path.join(output.uri, _SHARDS_PREFIX + uuid.uuid4().hex)
    try:
      scored = self._score(model_dirs, parameters, unique, shards)
    finally:
      if fileio.exists(shards):
        fileio.rmtree(shards)
    columns = _columns(records, scored)
    _write_tables(output.uri, columns)
    output.set_int_custom_property(SCORED_PROPERTY, len(records.sequences))
    output.set_int_custom_property(UNIQUE_PROPERTY, len(unique))

  def _score(self, model_dirs, parameters, sequences, shards):
    """The scores of `sequences` (in any order) as columns, through Beam."""
    # The workers read the sequences from files; only their paths pass
    # through the pipeline (`scoring.write_batches`).
    paths = scoring.write_batches(sequences, os.path.join(shards, 'input'))
    with self._make_beam_pipeline() as pipeline:
      _ = (
        pipeline
        | 'Batches' >> beam.Create(paths)
        | 'Read' >> beam.Map(scoring.read_batch)
        | 'Score' >> scoring.ScoreSequenceBatches(model_dirs, parameters)
        | 'ToArrow' >> beam.Map(encode_batch)
        | 'Write'
        >> beam.io.WriteToTFRecord(
          os.path.join(shards, 'batches'), file_name_suffix='.tfrecord'
        )
      )
    paths = sorted(fileio.glob(os.path.join(shards, 'batches*')))
    records = tf.data.TFRecordDataset(paths).as_numpy_iterator()
    return scoring.concatenate(decode_batch(r) for r in records)


def encode_batch(columns: Dict[str, np.ndarray]) -> bytes:
  """A scored batch as an Arrow IPC stream (float32 stays float32)."""
  batch = pa.RecordBatch.from_pydict(
    {name: pa.array(values) for name, values in columns.items()}
  )
  sink = pa.BufferOutputStream()
  with pa.ipc.new_stream(sink, batch.schema) as writer:
    writer.write_batch(batch)
  return sink.getvalue().to_pybytes()


def decode_batch(data: bytes) -> Dict[str, np.ndarray]:
  """The columns of `encode_batch`'s bytes, sequences as str objects."""
  table = pa.ipc.open_stream(data).read_all()
  return {name: table.column(name).to_numpy() for name in table.column_names}


def _columns(records, scored) -> Dict[str, np.ndarray]:
  """The scores of each input sequence, in file order, as columns.

  Raises:
    ScoringError: an input sequence came back unscored.
  """
  index = pd.Index(scored[scoring.SEQUENCE_COLUMN] if scored else [])
  if not index.is_unique:  # A retried bundle's copy scores the same.
    keep = ~index.duplicated()
    scored = {name: values[keep] for name, values in scored.items()}
    index = index[keep]
  rows = index.get_indexer(records.sequences)
  if (rows < 0).any():
    missing = sorted({records.sequences[i] for i in np.flatnonzero(rows < 0)})
    raise scoring.ScoringError(
      f'{len(missing)} sequences came back unscored, e.g. {missing[0]!r}'
    )
  columns = {name: values[rows] for name, values in scored.items()}
  if records.names is not None:
    columns = {
      scoring.SEQUENCE_COLUMN: columns.pop(scoring.SEQUENCE_COLUMN),
      scoring.NAME_COLUMN: np.array(records.names, dtype=object),
      **columns,
    }
  return columns


def _write_tables(uri: str, columns: Dict[str, np.ndarray]) -> None:
  """scores.csv and scores.parquet under `uri` (local or remote)."""
  local = tempfile.mkdtemp(prefix='score-sequences-')
  try:
    for name in (SCORES_CSV, SCORES_PARQUET):
      path = os.path.join(local, name)
      sequence_io.write_table(path, columns)
      fileio.makedirs(uri)
      fileio.copy(path, os.path.join(uri, name), overwrite=True)
  finally:
    shutil.rmtree(local, ignore_errors=True)


def make_score_sequences(
  models: List[types.BaseChannel],
  input_path: str,
  sequence_length: int = 0,
  folding_properties: Dict[str, Any] = None,
) -> base_component.BaseComponent:
  """A ScoreSequences component over one model channel per replica.

  Args:
    models: each replica's Trainer `model` (or pushed model) channel.
    input_path: a FASTA, text or CSV sequence file (see sequence_io).
    sequence_length: every sequence must have this length; 0: any.
    folding_properties: StructureFeatures exec properties (temperature,
      energy_parameters, ...) to fold with for models with structure inputs;
      None: StructureFeatures' defaults.

  Returns:
    The component; its output `scores` is a SequenceScores channel. It runs
    on the pipeline's `beam_pipeline_args`.
  """
  folding_text = json.dumps(folding_properties) if folding_properties else ''
  _folding_parameters(folding_text)  # Fails at construction, not at run.
  component = fan_in.make_fan_in_component(
    'ScoreSequences',
    Executor,
    inputs={MODEL_PREFIX: list(models)},
    outputs={SCORES_KEY: SequenceScores},
    parameters={
      INPUT_PATH_KEY: input_path,
      SEQUENCE_LENGTH_KEY: str(sequence_length) if sequence_length else '',
      FOLDING_KEY: folding_text,
    },
  )
  # A Beam executor spec, so the pipeline's beam_pipeline_args reach it.
  component.executor_spec = executor_spec.BeamExecutorSpec(Executor)
  return component
