"""ExperimentSchemaGen: the data contract's schema, derived from the experiment.

SchemaGen would infer a schema from whatever the data happens to contain; the
contract here is fixed by `experiment.pbtxt` instead: a `sequence`, one
non-negative int64 count per read name, and a `cluster` id. Float features the
data carries besides (structure features, user measurements) are kept as
optional dense floats so they can serve as auxiliary outputs.

The schema is the final one, what Transform parses: float features that a
later component adds to every example (`later_float_features`, the
structure features) are declared too. The ingested examples lack them, so
ExampleValidator must not require them: each is a FLOAT feature with no
presence constraint and no shape, and the schema's tensor representation
group makes it the same dense [1] float tensor for Transform (and TFT's raw
feature spec) as a required scalar would be; parsing an example without it
then fails, as it should. tfx_bsl rejects a `shape` without
`presence.min_fraction == 1`, and TFDV reports a required feature that the
statistics lack ('Column is completely missing'), hence the representation.
A schema with a group is read from the group alone (Transform projects on
it), so the group also holds what every other feature would be inferred to
be: the same tensors as without the group.
"""

import os
from typing import Iterable

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx_bsl.tfxio import tensor_representation_util

from components.config import keys
from schema import experiment as experiment_lib

SCHEMA_FILE_NAME = 'schema.pbtxt'
SEQUENCE_FEATURE = keys.SEQUENCE_FEATURE
CLUSTER_FEATURE = keys.CLUSTER_FEATURE


def add_scalar_feature(schema, name, ftype, required=True):
  """Adds a scalar feature ([1] shape), required in every example by default."""
  feature = schema.feature.add(name=name, type=ftype)
  feature.shape.dim.add(size=1)
  if required:
    feature.presence.min_fraction = 1.0
    feature.presence.min_count = 1
  return feature


def add_later_float_features(schema, names: Iterable[str]):
  """Adds float features that a later component adds to every example.

  Each is optional for validation (no presence, no shape) and a dense [1]
  float tensor without default for parsing; the representation group gets
  the inferred representation of every other feature (see the module
  docstring). Names the schema already has are left as they are.
  """
  known = {f.name for f in schema.feature}
  names = [n for n in dict.fromkeys(names) if n not in known]
  if not names:
    return
  group = schema.tensor_representation_group['']
  inferred = tensor_representation_util.InferTensorRepresentationsFromSchema(
    schema
  )
  for name, representation in inferred.items():
    if name not in group.tensor_representation:
      group.tensor_representation[name].CopyFrom(representation)
  for name in names:
    schema.feature.add(name=name, type=schema_pb2.FLOAT)
    dense = group.tensor_representation[name].dense_tensor
    dense.column_name = name
    dense.shape.dim.add(size=1)


def build_schema(
  experiment,
  extra_float_features: Iterable[str] = (),
  later_float_features: Iterable[str] = (),
) -> schema_pb2.Schema:
  """Builds the raw-data schema of an experiment.

  Args:
    experiment: the `Experiment` message.
    extra_float_features: names of further float features to allow.
    later_float_features: names of float features a later component adds
      (the structure features); a name the data already carries stays an
      extra float.

  Returns:
    A `Schema` with `sequence` (bytes), one int64 count per read name (domain
    [0, inf)), `cluster` (int64) and the extra floats, all required scalars,
    and the later floats (see `add_later_float_features`).
  """
  schema = schema_pb2.Schema()
  add_scalar_feature(schema, SEQUENCE_FEATURE, schema_pb2.BYTES)
  for name in experiment_lib.all_count_names(experiment):
    add_scalar_feature(schema, name, schema_pb2.INT).int_domain.min = 0
  add_scalar_feature(schema, CLUSTER_FEATURE, schema_pb2.INT)
  for name in sorted(set(extra_float_features)):
    add_scalar_feature(schema, name, schema_pb2.FLOAT)
  add_later_float_features(schema, later_float_features)
  return schema


def float_features_in_statistics(
  stats: statistics_pb2.DatasetFeatureStatisticsList, known: Iterable[str]
):
  """Names of FLOAT features in the statistics that the contract does not name."""
  known = set(known)
  names = set()
  for dataset in stats.datasets:
    for feature in dataset.features:
      name = feature.path.step[-1] if feature.path.step else feature.name
      if feature.type == statistics_pb2.FeatureNameStatistics.FLOAT:
        if name not in known:
          names.add(name)
  return names


def _load_statistics(statistics_artifact, split):
  path = os.path.join(
    artifact_utils.get_split_uri([statistics_artifact], split),
    'FeatureStats.pb',
  )
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  with tf.io.gfile.GFile(path, 'rb') as f:
    stats.ParseFromString(f.read())
  return stats


@tfx.dsl.components.component
def ExperimentSchemaGen(
  statistics: tfx.dsl.components.InputArtifact[
    tfx.types.standard_artifacts.ExampleStatistics
  ],
  schema: tfx.dsl.components.OutputArtifact[
    tfx.types.standard_artifacts.Schema
  ],
  experiment_pbtxt: tfx.dsl.components.Parameter[str],
  later_float_features: tfx.dsl.components.Parameter[str] = '',
):
  """Writes the schema implied by the experiment (plus optional float features).

  Args:
    statistics: StatisticsGen output, used only to find optional float
      features (e.g. structure features) present in every split.
    schema: the output Schema artifact (`schema.pbtxt`), the final schema
      that ExampleValidator checks and Transform parses.
    experiment_pbtxt: the experiment in protobuf text format.
    later_float_features: comma-separated float features that a later
      component adds to every example (the structure features), declared
      so that the ingested examples need not carry them.
  """
  experiment = experiment_lib.parse_experiment(
    experiment_pbtxt, 'experiment_pbtxt'
  )
  contract = build_schema(experiment)
  known = {f.name for f in contract.feature}
  extra = None
  for split in artifact_utils.decode_split_names(statistics.split_names):
    names = float_features_in_statistics(
      _load_statistics(statistics, split), known
    )
    extra = names if extra is None else extra & names
  io_utils.write_pbtxt_file(
    os.path.join(schema.uri, SCHEMA_FILE_NAME),
    build_schema(
      experiment,
      extra or (),
      filter(None, later_float_features.split(',')),
    ),
  )
