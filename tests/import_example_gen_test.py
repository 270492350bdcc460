"""Our ImportExampleGen executor writes what TFX's writes, and falls back."""

import glob
import os

import handmade_data
import pytest
import tensorflow as tf
from tfx.components.example_gen.import_example_gen import (
  executor as tfx_executor,
)
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.data import import_example_gen
from pipeline import beam_runners
from pipeline import configs
from pipeline import stages

MULTI_PROCESSING = beam_runners.with_local_dependencies(
  ['--direct_running_mode=multi_processing', '--direct_num_workers=2']
)
IN_MEMORY = beam_runners.with_local_dependencies(
  ['--direct_running_mode=in_memory']
)


def _pipeline_properties(input_dir):
  """The exec properties of the pipeline's own ImportExampleGen (its
  configs as JSON, as the launcher passes them)."""
  properties = dict(stages._import_example_gen(input_dir).exec_properties)  # pylint: disable=protected-access
  assert isinstance(properties[standard_component_specs.OUTPUT_CONFIG_KEY], str)
  return properties


def _run(executor_class, properties, root, beam_args):
  output = standard_artifacts.Examples()
  output.uri = os.path.join(root, 'examples')
  executor = executor_class(
    base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=beam_args, tmp_dir=os.path.join(root, 'tmp')
    )
  )
  executor.Do({}, {'examples': [output]}, dict(properties))
  return output


def _contents(artifact):
  """Split -> sorted deterministic serialisations of its examples."""
  out = {}
  for split in artifact_utils.decode_split_names(artifact.split_names):
    files = glob.glob(
      os.path.join(artifact_utils.get_split_uri([artifact], split), '*')
    )
    dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
    out[split] = sorted(
      tf.train.Example.FromString(r.numpy()).SerializeToString(
        deterministic=True
      )
      for r in dataset
    )
  return out


def test_the_pipeline_config_gives_tfx_s_splits_and_files(
  tmp_path, monkeypatch
):
  # Small batches, so this small dataset is spread over both workers.
  monkeypatch.setattr(import_example_gen, 'RECORDS_PER_BATCH', 8)
  input_dir = handmade_data.write_dataset(str(tmp_path / 'data'))
  properties = _pipeline_properties(input_dir)
  assert import_example_gen.handles(properties)
  ours = _run(
    import_example_gen.Executor,
    properties,
    str(tmp_path / 'ours'),
    MULTI_PROCESSING,
  )
  theirs = _run(
    tfx_executor.Executor, properties, str(tmp_path / 'tfx'), IN_MEMORY
  )
  assert ours.split_names == theirs.split_names
  assert artifact_utils.decode_split_names(ours.split_names) == [
    name for name, _ in configs.SPLIT_HASH_BUCKETS
  ]
  assert _contents(ours) == _contents(theirs)
  [path] = glob.glob(os.path.join(input_dir, '*.tfrecord.gz'))
  records = sum(1 for _ in tf.data.TFRecordDataset(path, 'GZIP'))
  assert sum(map(len, _contents(ours).values())) == records
  for name in ('payload_format', 'file_format'):
    assert ours.get_string_custom_property(
      name
    ) == theirs.get_string_custom_property(name)
  for split in artifact_utils.decode_split_names(ours.split_names):
    names = os.listdir(artifact_utils.get_split_uri([ours], split))
    assert names and all(
      n.startswith('data_tfrecord-') and n.endswith('.gz') for n in names
    )
  # One input file, yet each worker wrote its part: the next components
  # read the split in parallel.
  train = artifact_utils.get_split_uri([ours], 'train')
  assert len(os.listdir(train)) >= 2


def test_other_configs_run_tfx_s_executor(tmp_path):
  input_dir = handmade_data.write_dataset(str(tmp_path / 'data'))
  properties = _pipeline_properties(input_dir)
  # No output splits: TFX's executor writes each input split as it is.
  properties[standard_component_specs.OUTPUT_CONFIG_KEY] = (
    proto_utils.proto_to_json(example_gen_pb2.Output())
  )
  assert not import_example_gen.handles(properties)
  ours = _run(
    import_example_gen.Executor,
    properties,
    str(tmp_path / 'ours'),
    IN_MEMORY,
  )
  theirs = _run(
    tfx_executor.Executor, properties, str(tmp_path / 'tfx'), IN_MEMORY
  )
  assert artifact_utils.decode_split_names(ours.split_names) == ['single_split']
  assert _contents(ours) == _contents(theirs)


def test_an_example_without_the_cluster_feature_fails_naming_it(tmp_path):
  input_dir = handmade_data.write_dataset(str(tmp_path / 'data'))
  path = glob.glob(os.path.join(input_dir, '*.tfrecord.gz'))[0]
  # Rewrite one record without its cluster feature.
  records = [
    tf.train.Example.FromString(r.numpy())
    for r in tf.data.TFRecordDataset(path, compression_type='GZIP')
  ]
  del records[3].features.feature['cluster']
  with tf.io.TFRecordWriter(path, 'GZIP') as writer:
    for example in records:
      writer.write(example.SerializeToString())
  with pytest.raises(Exception, match="no partition feature 'cluster'"):
    _run(
      import_example_gen.Executor,
      _pipeline_properties(input_dir),
      str(tmp_path / 'ours'),
      IN_MEMORY,
    )
