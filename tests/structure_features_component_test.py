"""StructureFeatures executor and component on small hand-made examples."""

import glob
import json
import os

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
import RNA
import tensorflow as tf
from tfx import v1 as tfx
from tfx.dsl.components.base import base_beam_executor
from tfx.orchestration.kubeflow.v2.container import (
  kubeflow_v2_entrypoint_utils as entrypoint_utils,
)
from tfx.types import artifact_utils
from tfx.utils import import_utils

from components.features.structure import component
from components.features.structure import executor
from components.features.structure import folding
from components.features.structure import folding_cache
from pipeline import beam_runners

# Two splits sharing a sequence, one duplicate inside a split: 5 unique.
SPLITS = {
  'train': ['ACGTTGCAACGT', 'GGGGAAAACCCC', 'ACGTTGCAACGT', 'TTTTAAAAGGGG'],
  'eval': ['GGGGAAAACCCC', 'GCGCATATGCGC', 'CATGCATGCATG'],
}
IN_MEMORY = beam_runners.with_local_dependencies(
  ['--direct_running_mode=in_memory', '--direct_num_workers=1']
)
DEFAULTS = folding.FoldingParameters()
MULTI_PROCESSING = beam_runners.with_local_dependencies(
  ['--direct_running_mode=multi_processing', '--direct_num_workers=2']
)


def _example(sequence, count, cluster):
  return tf.train.Example(
    features=tf.train.Features(
      feature={
        'sequence': tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[sequence.encode()])
        ),
        'count': tf.train.Feature(int64_list=tf.train.Int64List(value=[count])),
        'cluster': tf.train.Feature(
          int64_list=tf.train.Int64List(value=[cluster])
        ),
      }
    )
  )


def _write_tfrecords(path, sequences):
  with tf.io.TFRecordWriter(path, 'GZIP') as writer:
    for i, sequence in enumerate(sequences):
      writer.write(_example(sequence, i + 1, i // 2).SerializeToString())


def _examples_artifact(root, splits=None):
  """An Examples artifact as ImportExampleGen writes it."""
  splits = splits or SPLITS
  artifact = tfx.types.standard_artifacts.Examples()
  artifact.uri = os.path.join(root, 'input')
  artifact.split_names = artifact_utils.encode_split_names(list(splits))
  for split, sequences in splits.items():
    directory = os.path.join(artifact.uri, f'Split-{split}')
    os.makedirs(directory)
    _write_tfrecords(
      os.path.join(directory, 'data_tfrecord-00000.gz'), sequences
    )
  return artifact


def _run(root, source, beam_args=None, cache_dir=None, **properties):
  """Runs the executor directly; returns the output artifact.

  A `cache_dir` is passed as the `cache` input, a FoldingCache artifact
  with that URI, as the Importer registers it.
  """
  inputs = {executor.EXAMPLES_KEY: [source]}
  if cache_dir:
    cache = folding_cache.FoldingCache()
    cache.uri = cache_dir
    inputs[executor.CACHE_KEY] = [cache]
  output = tfx.types.standard_artifacts.Examples()
  output.uri = os.path.join(root, 'output', str(len(os.listdir(root))))
  exec_properties = {**executor.DEFAULT_EXEC_PROPERTIES, **properties}
  context = base_beam_executor.BaseBeamExecutor.Context(
    beam_pipeline_args=beam_args or IN_MEMORY,
    tmp_dir=os.path.join(root, 'tmp'),
  )
  executor.Executor(context).Do(
    inputs,
    {executor.AUGMENTED_EXAMPLES_KEY: [output]},
    exec_properties,
  )
  return output


def _read_split(artifact, split):
  files = sorted(
    glob.glob(
      os.path.join(
        artifact_utils.get_split_uri([artifact], split), 'data_tfrecord-*.gz'
      )
    )
  )
  assert files, f'no data_tfrecord-*.gz in split {split}'
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  return [tf.train.Example.FromString(r.numpy()) for r in dataset]


def _by_sequence(examples):
  out = {}
  for example in examples:
    feature = example.features.feature
    sequence = feature['sequence'].bytes_list.value[0].decode()
    out.setdefault(sequence, []).append(example)
  return out


def _expected(sequence, parameters=DEFAULTS):
  return folding.fold(sequence, parameters)


def _assert_features(artifact, parameters=DEFAULTS):
  for split, sequences in SPLITS.items():
    examples = _read_split(artifact, split)
    assert len(examples) == len(sequences)
    for sequence, group in _by_sequence(examples).items():
      expected = _expected(sequence, parameters)
      for example in group:
        feature = example.features.feature
        assert {'count', 'cluster'} <= set(feature)
        for name, value in expected.items():
          assert feature[name].float_list.value[0] == pytest.approx(
            value, rel=1e-6
          ), (split, sequence, name)


def _counts(artifact):
  return {
    name: artifact.get_int_custom_property(name)
    for name in ('examples', 'unique_sequences', 'cache_hits', 'folded')
  }


def test_executor_adds_features_once_per_unique_sequence(tmp_path):
  root = str(tmp_path)
  output = _run(root, _examples_artifact(root))
  _assert_features(output)
  assert artifact_utils.decode_split_names(output.split_names) == list(SPLITS)
  assert _counts(output) == {
    'examples': 7,
    'unique_sequences': 5,
    'cache_hits': 0,
    'folded': 5,
  }
  # Input features and values are kept.
  train = _read_split(output, 'train')
  assert sorted(
    e.features.feature['count'].int64_list.value[0] for e in train
  ) == [1, 2, 3, 4]


def test_executor_rna_parameters_and_primers(tmp_path):
  root = str(tmp_path)
  source = _examples_artifact(root)
  output = _run(
    root,
    source,
    energy_parameters='rna_turner2004',
    temperature=25.0,
    include_primers=1,
    forward_primer='GGATCC',
    reverse_primer='GAATTC',
  )
  parameters = folding.FoldingParameters(
    energy_parameters='rna_turner2004',
    temperature=25.0,
    forward_primer='GGATCC',
    reverse_primer='GAATTC',
  )
  _assert_features(output, parameters)


def test_cache_rerun_folds_nothing_and_gives_identical_output(tmp_path):
  root = str(tmp_path)
  cache_dir = os.path.join(root, 'cache')
  source = _examples_artifact(root)
  first = _run(root, source, cache_dir=cache_dir)
  second = _run(root, source, cache_dir=cache_dir)
  assert _counts(first)['folded'] == 5
  assert _counts(second) == {
    'examples': 7,
    'unique_sequences': 5,
    'cache_hits': 5,
    'folded': 0,
  }
  for split in SPLITS:
    key = lambda e: e.SerializeToString(deterministic=True)  # noqa: E731
    assert sorted(map(key, _read_split(first, split))) == sorted(
      map(key, _read_split(second, split))
    )
  folder = os.path.join(cache_dir, folding.FoldingParameters().fingerprint())
  assert len(glob.glob(os.path.join(folder, 'features-*.tfrecord.gz'))) == 1
  assert not glob.glob(os.path.join(folder, '.incoming-*'))
  described = json.load(open(os.path.join(folder, 'parameters.json')))
  assert described['energy_parameters'] == 'dna_mathews2004'

  # Overlapping data: only the new sequence is folded, into a new shard.
  more = _examples_artifact(
    os.path.join(root, 'more'),
    {'train': ['ACGTTGCAACGT', 'AAAACCCCGGGG'], 'eval': ['GGGGAAAACCCC']},
  )
  third = _run(root, more, cache_dir=cache_dir)
  assert _counts(third)['folded'] == 1
  assert _counts(third)['cache_hits'] == 2
  assert len(glob.glob(os.path.join(folder, 'features-*.tfrecord.gz'))) == 2

  # Other folding parameters do not share entries.
  warm = _run(root, source, cache_dir=cache_dir, temperature=50.0)
  assert _counts(warm)['folded'] == 5


def test_executor_computes_only_the_features_asked_for(tmp_path):
  root = str(tmp_path)
  cache_dir = os.path.join(root, 'cache')
  source = _examples_artifact(root)
  output = _run(
    root, source, cache_dir=cache_dir, features='partition_function'
  )
  only = DEFAULTS.with_features(['partition_function'])
  _assert_features(output, only)
  for split in SPLITS:
    for example in _read_split(output, split):
      names = set(example.features.feature)
      assert names & set(folding.FEATURES) == {'partition_function'}
  # Its cache folder is its own: a run of all five folds again, and a rerun
  # of the subset is served from its folder.
  assert os.path.isdir(os.path.join(cache_dir, only.fingerprint()))
  assert _counts(_run(root, source, cache_dir=cache_dir))['folded'] == 5
  again = _run(root, source, cache_dir=cache_dir, features='partition_function')
  assert _counts(again)['cache_hits'] == 5
  _assert_features(again, only)


def test_unknown_feature_fails_before_beam(tmp_path):
  root = str(tmp_path)
  with pytest.raises(executor.StructureFeaturesError, match="'entropy'"):
    _run(root, _examples_artifact(root), features='mfe,entropy')
  with pytest.raises(executor.StructureFeaturesError, match="'entropy'"):
    component.StructureFeatures(
      examples=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples),
      features=['entropy'],
    )


@pytest.mark.parametrize(
  'bad, message',
  [
    ('ACGTNACGT', "split 'eval': sequence 'ACGTNACGT' has characters other"),
    ('', "split 'eval': empty sequence"),
  ],
)
def test_bad_sequence_fails_naming_it_and_publishes_nothing(
  tmp_path, bad, message
):
  root = str(tmp_path)
  cache_dir = os.path.join(root, 'cache')
  splits = {'train': SPLITS['train'], 'eval': SPLITS['eval'] + [bad]}
  source = _examples_artifact(root, splits)
  with pytest.raises(Exception, match=message):
    _run(root, source, cache_dir=cache_dir)
  output_root = os.path.join(root, 'output')
  assert not glob.glob(os.path.join(output_root, '*', 'Split-*', '*'))
  assert not glob.glob(os.path.join(cache_dir, '*', 'features-*'))
  assert not glob.glob(os.path.join(cache_dir, '*', '.incoming-*'))


def test_existing_feature_is_not_overwritten(tmp_path):
  root = str(tmp_path)
  source = _examples_artifact(root)
  path = os.path.join(source.uri, 'Split-train', 'data_tfrecord-00001.gz')
  example = _example('ACGTACGT', 1, 1)
  example.features.feature['mfe'].float_list.value.append(float('nan'))
  with tf.io.TFRecordWriter(path, 'GZIP') as writer:
    writer.write(example.SerializeToString())
  with pytest.raises(Exception, match="already has a feature 'mfe'"):
    _run(root, source)


def test_bad_parameters_fail_before_beam():
  with pytest.raises(executor.StructureFeaturesError, match='energy'):
    executor.folding_parameters({'energy_parameters': 'dna_turner'})
  with pytest.raises(executor.StructureFeaturesError, match='forward_primer'):
    executor.folding_parameters(
      {'include_primers': 1, 'forward_primer': 'ACGU'}
    )


def test_beam_workers_load_dna_parameters_themselves(tmp_path):
  """Multi-processing workers fold with DNA though this process has RNA."""
  expected = {
    seq: _expected(seq) for sequences in SPLITS.values() for seq in sequences
  }
  rna = {seq: _expected(seq, folding.FoldingParameters('rna_turner2004'))
         for seq in expected}  # fmt: skip
  assert any(expected[s]['mfe'] != rna[s]['mfe'] for s in expected)
  # The launching process now holds the RNA set, globally and in folding.
  RNA.params_load_RNA_Turner2004()
  folding.load_energy_parameters(folding.RNA_TURNER2004)

  root = str(tmp_path)
  output = _run(root, _examples_artifact(root), MULTI_PROCESSING)
  for split in SPLITS:
    for sequence, group in _by_sequence(_read_split(output, split)).items():
      for example in group:
        feature = example.features.feature
        for name, value in expected[sequence].items():
          assert feature[name].float_list.value[0] == pytest.approx(
            value, rel=1e-6
          ), (split, sequence, name)
  assert _counts(output)['folded'] == 5


def _write_input_dir(directory):
  os.makedirs(directory)
  for split, sequences in SPLITS.items():
    _write_tfrecords(os.path.join(directory, f'{split}.tfrecord.gz'), sequences)


def _pipeline(root, input_dir, beam_args, cache_name='cache'):
  example_gen = tfx.components.ImportExampleGen(
    input_base=input_dir,
    input_config=tfx.proto.Input(
      splits=[
        tfx.proto.Input.Split(name=split, pattern=f'{split}.tfrecord.gz')
        for split in SPLITS
      ]
    ),
  )
  cache = folding_cache.importer(os.path.join(root, cache_name))
  structure = component.StructureFeatures(
    examples=example_gen.outputs['examples'],
    cache=cache.outputs['result'],
  )
  return tfx.dsl.Pipeline(
    pipeline_name='structure-features-test',
    pipeline_root=os.path.join(root, 'pipeline'),
    metadata_connection_config=(
      tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, 'metadata.sqlite')
      )
    ),
    components=[example_gen, cache, structure],
    beam_pipeline_args=beam_args,
    enable_cache=True,
  )


def _structure_executions(root):
  """StructureFeatures' executions and the cache artifacts they read."""
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(
      os.path.join(root, 'metadata.sqlite')
    )
  )
  context = store.get_context_by_type_and_name(
    'node', 'structure-features-test.StructureFeatures'
  )
  executions = sorted(
    store.get_executions_by_context(context.id), key=lambda e: e.id
  )
  caches = []
  for execution in executions:
    [cache_id] = [
      e.artifact_id
      for e in store.get_events_by_execution_ids([execution.id])
      if e.type == metadata_store_pb2.Event.INPUT
      and e.path.steps[0].key == executor.CACHE_KEY
    ]
    [cache] = store.get_artifacts_by_id([cache_id])
    caches.append(cache)
  return [e.last_known_state for e in executions], caches


def test_component_in_local_dag_runner(tmp_path):
  root = str(tmp_path)
  input_dir = os.path.join(root, 'data')
  _write_input_dir(input_dir)
  tfx.orchestration.LocalDagRunner().run(_pipeline(root, input_dir, IN_MEMORY))
  out_root = os.path.join(
    root, 'pipeline', 'StructureFeatures', 'augmented_examples'
  )
  (execution,) = os.listdir(out_root)
  output = tfx.types.standard_artifacts.Examples()
  output.uri = os.path.join(out_root, execution)
  output.split_names = artifact_utils.encode_split_names(list(SPLITS))
  _assert_features(output)
  # The cache is an MLMD input artifact, written under its URI.
  cache_dir = os.path.join(root, 'cache')
  folder = os.path.join(cache_dir, DEFAULTS.fingerprint())
  assert len(glob.glob(os.path.join(folder, 'features-*.tfrecord.gz'))) == 1

  # A rerun with the same cache dir imports the same artifact, so
  # StructureFeatures is served from the TFX cache.
  tfx.orchestration.LocalDagRunner().run(_pipeline(root, input_dir, IN_MEMORY))
  states, caches = _structure_executions(root)
  assert states == [
    metadata_store_pb2.Execution.COMPLETE,
    metadata_store_pb2.Execution.CACHED,
  ]
  assert caches[0].id == caches[1].id
  assert caches[0].uri == cache_dir
  assert os.listdir(out_root) == [execution]

  # Another cache dir is another input artifact: StructureFeatures runs.
  tfx.orchestration.LocalDagRunner().run(
    _pipeline(root, input_dir, IN_MEMORY, cache_name='other_cache')
  )
  states, caches = _structure_executions(root)
  assert states[2] == metadata_store_pb2.Execution.COMPLETE
  assert caches[2].uri == os.path.join(root, 'other_cache')
  assert caches[2].id != caches[0].id


def test_component_spec_and_kubeflow_v2_compile(tmp_path):
  root = str(tmp_path)
  pipeline = _pipeline(root, os.path.join(root, 'data'), IN_MEMORY)
  importer, structure = pipeline.components[1:]
  assert importer.id == folding_cache.IMPORTER_ID
  assert importer.exec_properties['artifact_uri'] == os.path.join(root, 'cache')
  assert importer.exec_properties['reimport'] == 0
  assert structure.inputs[executor.CACHE_KEY].type is folding_cache.FoldingCache
  assert structure.exec_properties == {
    'temperature': 37.0,
    'sodium': 1.021,
    'include_primers': 0,
    'forward_primer': '',
    'reverse_primer': '',
    'sequence_feature': 'sequence',
    'energy_parameters': 'dna_mathews2004',
    'features': ','.join(folding.FEATURES),
  }
  output = os.path.join(root, 'pipeline.json')
  tfx.orchestration.experimental.KubeflowV2DagRunner(
    config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
      default_image='gcr.io/tfx-oss-public/tfx:1.16.0'
    ),
    output_filename=output,
  ).run(pipeline, write_out=True)
  spec = json.load(open(output))
  executors = spec['pipelineSpec']['deploymentSpec']['executors']
  text = json.dumps(executors)
  assert 'components.features.structure.executor.Executor' in text
  # The cache is an importer task whose artifact the container can rebuild.
  importer_executor = f'{folding_cache.IMPORTER_ID}_executor'
  importer_spec = executors[importer_executor]['importer']
  uri = importer_spec['artifactUri']['constantValue']['stringValue']
  assert uri == os.path.join(root, 'cache')
  tasks = spec['pipelineSpec']['root']['dag']['tasks']
  cache_input = tasks['StructureFeatures']['inputs']['artifacts']['cache']
  assert cache_input['taskOutputArtifact'] == {
    'outputArtifactKey': 'result',
    'producerTask': folding_cache.IMPORTER_ID,
  }
  type_schema = json_format.ParseDict(
    importer_spec['typeSchema'], pipeline_spec_pb2.ArtifactTypeSchema()
  )
  class_path = entrypoint_utils._retrieve_class_path(type_schema)
  assert class_path == 'components.FoldingCache'
  assert import_utils.import_class_by_path(class_path) is (
    folding_cache.FoldingCache
  )


def test_component_rejects_bad_parameters():
  channel = tfx.types.standard_artifacts.Examples
  examples = tfx.dsl.Channel(type=channel)
  with pytest.raises(executor.StructureFeaturesError, match='sodium'):
    component.StructureFeatures(examples=examples, sodium=-1.0)
  with pytest.raises(executor.StructureFeaturesError, match='no primer'):
    component.StructureFeatures(examples=examples, include_primers=True)


def test_default_exec_properties_are_the_components_defaults():
  examples = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples)
  structure = component.StructureFeatures(examples=examples)
  assert structure.exec_properties == executor.DEFAULT_EXEC_PROPERTIES
