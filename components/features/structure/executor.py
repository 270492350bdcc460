"""Beam executor of StructureFeatures: folds each unique sequence once.

The pipeline, over every split at once:

  read split s -> (sequence, (s, example))  --+
                                              +-> CoGroupByKey by sequence
  cache shards -> (sequence, features)  ------+        |
                                                       v
             fold once per key (unless cached), attach features to each of
             the key's examples -> partition by split -> gzip TFRecords
                                \\-> newly folded (sequence, features) ->
                                    a new cache shard

One shuffle keyed by sequence does the deduplication, the cache lookup and
the join back to the examples. A side input of all features would have to
fit in every worker's memory; the shuffle scales with the data instead, and
examples have to move to meet their features either way. Each worker loads
the energy parameter set in `DoFn.setup` (and `folding.fold` checks it), so
nothing depends on what the launching process loaded. The workers run
`worker_functions` only, which imports neither TensorFlow nor TFX.

Cache: the optional `cache` input, a `folding_cache.FoldingCache` artifact
whose URI is the cache directory (imported once per directory, so MLMD shows
which cache each execution used). `<cache uri>/<fingerprint>/` holds
`features-*.tfrecord.gz` shards of tf.Examples (`sequence` plus the
computed features, as float32, exactly what the output holds), where the
fingerprint hashes the folding parameters (energy set, temperature, sodium,
primers when included, the features unless all five) and the ViennaRNA
version; `parameters.json` says which. A run reads every shard there, folds
only the sequences none holds, and writes them as a new shard: Beam writes
it into a hidden `.incoming-<id>` folder, and only after the pipeline
succeeded is it renamed into place, so readers see complete shards only.
Shards are never rewritten; concurrent runs may both add a sequence, and a
reader takes any one copy (they are equal).
"""

import os
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
import uuid

from absl import logging
import apache_beam as beam
from apache_beam.metrics import metric
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components.data import split_writing
from components.features.structure import folding
from components.features.structure import worker_functions

# Raised here and in the workers; re-exported for callers of the executor.
StructureFeaturesError = worker_functions.StructureFeaturesError


EXAMPLES_KEY = 'examples'
# ComponentSpec keys must differ between inputs and outputs.
AUGMENTED_EXAMPLES_KEY = 'augmented_examples'
TEMPERATURE_KEY = 'temperature'
SODIUM_KEY = 'sodium'
INCLUDE_PRIMERS_KEY = 'include_primers'
FORWARD_PRIMER_KEY = 'forward_primer'
REVERSE_PRIMER_KEY = 'reverse_primer'
SEQUENCE_FEATURE_KEY = 'sequence_feature'
ENERGY_PARAMETERS_KEY = 'energy_parameters'
# Comma-separated names of the features to compute (absent or '': all five,
# as before the choice existed).
FEATURES_KEY = 'features'
# The optional input: a FoldingCache artifact whose URI is the cache folder.
CACHE_KEY = 'cache'

# The exec properties of a StructureFeatures component built with every
# argument at its default, for callers that run the executor directly.
DEFAULT_EXEC_PROPERTIES = {
  TEMPERATURE_KEY: folding.DEFAULT_TEMPERATURE,
  SODIUM_KEY: folding.DEFAULT_SODIUM,
  INCLUDE_PRIMERS_KEY: 0,
  FORWARD_PRIMER_KEY: '',
  REVERSE_PRIMER_KEY: '',
  SEQUENCE_FEATURE_KEY: 'sequence',
  ENERGY_PARAMETERS_KEY: folding.DNA_MATHEWS2004,
  FEATURES_KEY: ','.join(folding.FEATURES),
}

OUTPUT_FILE_PREFIX = split_writing.OUTPUT_FILE_PREFIX
CACHE_SHARD_PREFIX = 'features'
CACHE_SHARD_SUFFIX = '.tfrecord.gz'


def folding_parameters(exec_properties: Dict[str, Any]):
  """The FoldingParameters that the exec properties describe."""
  include_primers = bool(exec_properties.get(INCLUDE_PRIMERS_KEY) or 0)
  try:
    return folding.FoldingParameters(
      energy_parameters=exec_properties.get(ENERGY_PARAMETERS_KEY)
      or folding.DNA_MATHEWS2004,
      temperature=float(
        exec_properties.get(TEMPERATURE_KEY, folding.DEFAULT_TEMPERATURE)
      ),
      sodium=float(exec_properties.get(SODIUM_KEY, folding.DEFAULT_SODIUM)),
      forward_primer=(exec_properties.get(FORWARD_PRIMER_KEY) or '')
      if include_primers
      else '',
      reverse_primer=(exec_properties.get(REVERSE_PRIMER_KEY) or '')
      if include_primers
      else '',
      features=features_of(exec_properties.get(FEATURES_KEY) or ''),
    )
  except folding.FoldingError as e:
    raise StructureFeaturesError(str(e)) from e


def features_of(names: str):
  """The features that a `features` exec property names ('' = all five)."""
  return (
    tuple(n.strip() for n in names.split(',')) if names else folding.FEATURES
  )


def _cache_folder(cache_dir: str, parameters) -> str:
  return os.path.join(cache_dir, parameters.fingerprint())


def _cache_shards(folder: str) -> List[str]:
  pattern = os.path.join(folder, f'{CACHE_SHARD_PREFIX}-*{CACHE_SHARD_SUFFIX}')
  return sorted(fileio.glob(pattern)) if fileio.exists(folder) else []


def _publish_cache_shards(incoming: str, folder: str, run_id: str) -> int:
  """Renames the complete shards in `incoming` into the cache folder."""
  moved = 0
  for path in sorted(fileio.glob(os.path.join(incoming, '*'))):
    name = f'{CACHE_SHARD_PREFIX}-{run_id}-{moved:05d}{CACHE_SHARD_SUFFIX}'
    fileio.rename(path, os.path.join(folder, name))
    moved += 1
  return moved


def _counter(result, name: str) -> int:
  query = result.metrics().query(
    metric.MetricsFilter()
    .with_namespace(worker_functions.METRICS_NAMESPACE)
    .with_name(name)
  )
  total = 0
  for counter in query['counters']:
    value = counter.committed
    total += value if value is not None else counter.attempted
  return total


class Executor(base_beam_executor.BaseBeamExecutor):
  """Adds ViennaRNA structure features to every example of every split."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    """Folds each unique sequence once and writes the augmented examples.

    Args:
      input_dict: `examples`, one Examples artifact (gzip TFRecords of
        tf.Example per split); optionally `cache`, one FoldingCache artifact
        whose URI is the cache directory (read, and extended with the newly
        folded sequences).
      output_dict: `augmented_examples`, the Examples artifact to write,
        with the same splits.
      exec_properties: see `component.StructureFeaturesSpec`.

    Raises:
      StructureFeaturesError: bad parameters, or a sequence that is missing,
        empty, not A/C/G/T, or whose features are not finite (the message
        names the sequence and the split). Nothing is left in the output or
        added to the cache then.
    """
    self._log_startup(input_dict, output_dict, exec_properties)
    source = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    output = artifact_utils.get_single_instance(
      output_dict[AUGMENTED_EXAMPLES_KEY]
    )
    split_names = artifact_utils.decode_split_names(source.split_names)
    if not split_names:
      raise StructureFeaturesError(f'{source.uri} has no splits')
    parameters = folding_parameters(exec_properties)
    sequence_feature = exec_properties.get(SEQUENCE_FEATURE_KEY) or 'sequence'
    caches = input_dict.get(CACHE_KEY) or []
    cache_dir = artifact_utils.get_single_uri(caches) if caches else ''
    logging.info(
      'StructureFeatures: splits %s, folding %s', split_names, parameters
    )

    output.split_names = artifact_utils.encode_split_names(split_names)
    run_id = uuid.uuid4().hex
    cache_folder = incoming = None
    shards = []
    if cache_dir:
      cache_folder = _cache_folder(cache_dir, parameters)
      fileio.makedirs(cache_folder)
      with fileio.open(os.path.join(cache_folder, 'parameters.json'), 'w') as f:
        f.write(parameters.describe())
      shards = _cache_shards(cache_folder)
      incoming = os.path.join(cache_folder, f'.incoming-{run_id}')
      logging.info(
        'StructureFeatures: cache %s has %d shards', cache_folder, len(shards)
      )

    try:
      result = self._run_pipeline(
        source,
        output,
        split_names,
        sequence_feature,
        parameters,
        shards,
        incoming,
      )
    except Exception:
      # The launcher also removes the output of a failed execution; this
      # covers callers that run the executor directly. The cache only ever
      # gets shards of a successful run.
      for split in split_names:
        split_uri = artifact_utils.get_split_uri([output], split)
        if fileio.exists(split_uri):
          fileio.rmtree(split_uri)
      if incoming is not None and fileio.exists(incoming):
        fileio.rmtree(incoming)
      raise

    stats = {name: _counter(result, name) for name in worker_functions.COUNTERS}
    if incoming is not None:
      if stats[worker_functions.FOLDED_COUNTER]:
        moved = _publish_cache_shards(incoming, cache_folder, run_id)
        logging.info('StructureFeatures: added %d cache shards', moved)
      if fileio.exists(incoming):
        fileio.rmtree(incoming)

    examples_utils.set_payload_format(
      output, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE
    )
    examples_utils.set_file_format(output, 'tfrecords_gzip')
    for name, value in stats.items():
      output.set_int_custom_property(name, value)
    logging.info(
      'StructureFeatures: %d examples, %d unique sequences, %d cache hits, '
      '%d folded',
      stats[worker_functions.EXAMPLES_COUNTER],
      stats[worker_functions.UNIQUE_COUNTER],
      stats[worker_functions.CACHE_HITS_COUNTER],
      stats[worker_functions.FOLDED_COUNTER],
    )

  def _run_pipeline(
    self,
    source: types.Artifact,
    output: types.Artifact,
    split_names: List[str],
    sequence_feature: str,
    parameters: folding.FoldingParameters,
    cache_shards: Iterable[str],
    incoming: str,
  ):
    """Builds and runs the Beam pipeline; returns its finished result."""
    pipeline = self._make_beam_pipeline()
    keyed = []
    for index, split in enumerate(split_names):
      pattern = os.path.join(artifact_utils.get_split_uri([source], split), '*')
      keyed.append(
        pipeline
        | f'Read[{split}]'
        >> beam.io.ReadFromTFRecord(
          pattern, compression_type=beam.io.filesystem.CompressionTypes.AUTO
        )
        | f'KeyBySequence[{split}]'
        >> beam.Map(
          worker_functions.key_by_sequence,
          split=split,
          split_index=index,
          sequence_feature=sequence_feature,
          features=parameters.features,
        )
      )
    examples = keyed | 'FlattenSplits' >> beam.Flatten()
    cache_shards = list(cache_shards)
    if cache_shards:
      cached = (
        pipeline
        | 'CacheShards' >> beam.Create(cache_shards)
        | 'ReadCache' >> beam.io.ReadAllFromTFRecord()
        | 'ParseCache'
        >> beam.Map(
          worker_functions.parse_features_record, features=parameters.features
        )
      )
    else:
      cached = pipeline | 'NoCache' >> beam.Create([])
    results = (
      {
        worker_functions.EXAMPLES_TAG: examples,
        worker_functions.CACHED_TAG: cached,
      }
      | 'GroupBySequence' >> beam.CoGroupByKey()
      | 'AddStructureFeatures'
      >> beam.ParDo(
        worker_functions.AddStructureFeatures(parameters, split_names)
      ).with_outputs(
        worker_functions.NEW_CACHE_TAG, main=worker_functions.EXAMPLES_TAG
      )
    )
    parts = results[
      worker_functions.EXAMPLES_TAG
    ] | 'PartitionBySplit' >> beam.Partition(
      split_writing.split_of, len(split_names)
    )
    for index, split in enumerate(split_names):
      prefix = os.path.join(
        artifact_utils.get_split_uri([output], split), OUTPUT_FILE_PREFIX
      )
      _ = (
        parts[index]
        | f'DropSplit[{split}]' >> beam.Values()
        | f'Write[{split}]'
        >> beam.io.WriteToTFRecord(
          prefix,
          file_name_suffix='.gz',
          compression_type=beam.io.filesystem.CompressionTypes.GZIP,
        )
      )
    if incoming is not None:
      _ = (
        results[worker_functions.NEW_CACHE_TAG]
        | 'SerializeCache' >> beam.MapTuple(worker_functions.features_record)
        | 'WriteCache'
        >> beam.io.WriteToTFRecord(
          os.path.join(incoming, CACHE_SHARD_PREFIX),
          file_name_suffix=CACHE_SHARD_SUFFIX,
          compression_type=beam.io.filesystem.CompressionTypes.GZIP,
        )
      )
    result = pipeline.run()
    result.wait_until_finish()
    return result
