"""ExperimentSchemaGen's final schema and DataContractCheck's unchanged copy.

The schema declares the structure features that StructureFeatures adds
later: ExampleValidator (TFDV) must accept the ingested examples without
them, and Transform must parse them exactly as the required scalars that
DataContractCheck used to add.
"""

import glob
import os
import tempfile

import handmade_data
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils
from tfx import v1 as tfx
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx_bsl.tfxio import tf_example_record

from components.data import data_contract
from components.data import experiment_schema
from components.features.structure import folding
from pipeline import beam_runners
from schema import experiment as experiment_lib

SPLITS = ('train', 'eval')
IN_MEMORY = beam_runners.with_local_dependencies(
  ['--direct_running_mode=in_memory', '--direct_num_workers=1']
)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  """The handmade dataset and its statistics, as StatisticsGen writes them."""
  root = tmp_path_factory.mktemp('schema')
  data = handmade_data.write_dataset(str(root / 'data'))
  examples = tfx.types.standard_artifacts.Examples()
  examples.uri = str(root / 'examples')
  examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
  statistics = tfx.types.standard_artifacts.ExampleStatistics()
  statistics.uri = str(root / 'statistics')
  statistics.split_names = examples.split_names
  [path] = glob.glob(os.path.join(data, '*.tfrecord.gz'))
  stats = tfdv.generate_statistics_from_tfrecord(path)
  for split in SPLITS:
    split_dir = artifact_utils.get_split_uri([examples], split)
    os.makedirs(split_dir)
    os.symlink(path, os.path.join(split_dir, 'data_tfrecord-00000.gz'))
    stats_dir = artifact_utils.get_split_uri([statistics], split)
    os.makedirs(stats_dir)
    with open(os.path.join(stats_dir, 'FeatureStats.pb'), 'wb') as f:
      f.write(stats.SerializeToString())
  return root, examples, statistics, stats


def _schema_gen(root, statistics, later_float_features):
  schema = tfx.types.standard_artifacts.Schema()
  schema.uri = tempfile.mkdtemp(prefix='schema-', dir=root)
  executor = experiment_schema.ExperimentSchemaGen.EXECUTOR_SPEC
  executor.executor_class().Do(
    {'statistics': [statistics]},
    {'schema': [schema]},
    {
      'experiment_pbtxt': handmade_data.EXPERIMENT,
      'later_float_features': later_float_features,
    },
  )
  return schema


def _read_schema(artifact):
  return io_utils.parse_pbtxt_file(
    os.path.join(artifact.uri, experiment_schema.SCHEMA_FILE_NAME),
    schema_pb2.Schema(),
  )


def test_schema_declares_later_features_and_validates_ingested_stats(dataset):
  root, _, statistics, stats = dataset
  later = ','.join(folding.FEATURES)
  schema = _read_schema(_schema_gen(root, statistics, later))
  features = {f.name: f for f in schema.feature}
  for name in folding.FEATURES:
    assert features[name].type == schema_pb2.FLOAT
    # Optional for validation: no presence and no shape constraint.
    assert not features[name].HasField('presence')
    assert not features[name].HasField('shape')
  # ExampleValidator's check of the ingested (unfolded) statistics.
  anomalies = tfdv.validate_statistics(stats, schema)
  assert not anomalies.anomaly_info
  assert not anomalies.HasField('dataset_anomaly_info')
  # Without later features the schema is what it always was.
  plain = _read_schema(_schema_gen(root, statistics, ''))
  experiment = experiment_lib.parse_experiment(handmade_data.EXPERIMENT, 'x')
  assert plain == experiment_schema.build_schema(experiment)
  assert not plain.tensor_representation_group


def test_later_features_parse_as_the_old_required_scalars(dataset):
  root, _, statistics, _ = dataset
  schema = _read_schema(
    _schema_gen(root, statistics, ','.join(folding.FEATURES))
  )
  # The schema DataContractCheck used to pass to Transform.
  experiment = experiment_lib.parse_experiment(handmade_data.EXPERIMENT, 'x')
  old = experiment_schema.build_schema(experiment)
  for name in folding.FEATURES:
    experiment_schema.add_scalar_feature(old, name, schema_pb2.FLOAT)
  # TFT's raw feature spec (Transform, the serving signatures) ...
  assert (
    schema_utils.schema_as_feature_spec(schema).feature_spec
    == schema_utils.schema_as_feature_spec(old).feature_spec
  )
  # ... and the tensors Transform's TFXIO decodes.
  new_io = tf_example_record.TFExampleRecord('unused', schema=schema)
  old_io = tf_example_record.TFExampleRecord('unused', schema=old)
  assert new_io.TensorRepresentations() == old_io.TensorRepresentations()
  # Transform projects the TFXIO on the features preprocessing_fn reads.
  names = ['sequence', 'cluster', *folding.FEATURES]
  assert (
    new_io.Project(names).TensorRepresentations()
    == old_io.Project(names).TensorRepresentations()
  )


def test_data_contract_check_copies_the_schema_and_leaves_no_scratch(
  dataset, tmp_path, monkeypatch
):
  root, both_splits, statistics, stats = dataset
  schema = _schema_gen(root, statistics, ','.join(folding.FEATURES))
  # The fixture's splits hold the same file, which the check would rightly
  # refuse as duplicated sequences: check the train split alone.
  examples = tfx.types.standard_artifacts.Examples()
  examples.uri = both_splits.uri
  examples.split_names = artifact_utils.encode_split_names(['train'])
  anomalies = tfx.types.standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / 'anomalies')
  anomalies.split_names = examples.split_names
  for split in ['train']:
    split_dir = artifact_utils.get_split_uri([anomalies], split)
    os.makedirs(split_dir)
    result = tfdv.validate_statistics(stats, _read_schema(schema))
    with open(
      os.path.join(split_dir, data_contract.ANOMALIES_FILE_NAME), 'wb'
    ) as f:
      f.write(result.SerializeToString())
  validated = tfx.types.standard_artifacts.Schema()
  validated.uri = str(tmp_path / 'validated')
  os.makedirs(validated.uri)
  scratch = tmp_path / 'beam_temp'
  scratch.mkdir()
  roots = []
  scratch_root = data_contract._scratch_root

  def spy(pipeline):
    roots.append(scratch_root(pipeline))
    return roots[-1]

  monkeypatch.setattr(data_contract, '_scratch_root', spy)
  executor = data_contract.DataContractCheck.EXECUTOR_SPEC.executor_class(
    base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=IN_MEMORY + [f'--temp_location={scratch}'],
      tmp_dir=str(tmp_path / 'tmp'),
    )
  )
  executor.Do(
    {'examples': [examples], 'schema': [schema], 'anomalies': [anomalies]},
    {'validated_schema': [validated]},
    {'experiment_pbtxt': handmade_data.EXPERIMENT},
  )
  name = experiment_schema.SCHEMA_FILE_NAME
  assert os.listdir(validated.uri) == [name]
  with open(os.path.join(validated.uri, name), 'rb') as copy:
    with open(os.path.join(schema.uri, name), 'rb') as original:
      assert copy.read() == original.read()
  # The Beam results went to the pipeline's temp_location, then were removed.
  assert roots == [str(scratch)]
  assert not os.listdir(scratch)

  # A failing check also removes them, and writes no schema.
  failing = tfx.types.standard_artifacts.Schema()
  failing.uri = str(tmp_path / 'failing')
  os.makedirs(failing.uri)
  longer = handmade_data.EXPERIMENT.replace(
    'sequence_length: 12', 'sequence_length: 13'
  )
  with pytest.raises(data_contract.DataContractError, match='length'):
    executor.Do(
      {'examples': [examples], 'schema': [schema], 'anomalies': [anomalies]},
      {'validated_schema': [failing]},
      {'experiment_pbtxt': longer},
    )
  assert not os.listdir(failing.uri)
  assert not os.listdir(scratch)
