"""What our ExampleGen executors share with TFX's: splits, files, properties.

TFX's `BaseExampleGenExecutor` partitions with `_PartitionFn` and writes
with `write_split.WriteSplit`, both in `tfx.components`, so every Beam
worker of a TFX ExampleGen imports TensorFlow and TFX (about 7.5 s each),
and its writer reshuffles every example first. These helpers build the same
splits and files from `split_writing`, which the workers import instead;
the executors (FASTQ, TF Example import) keep TFX's `Do` contract: the same
split names, file names, payload format and file format on the artifact.
"""

import itertools
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

import apache_beam as beam
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.data import split_writing


class OutputConfigError(ValueError):
  """An ExampleGen output config our executors cannot split by."""


def input_and_output_configs(exec_properties: Dict[str, Any]):
  """(example_gen_pb2.Input, example_gen_pb2.Output) of the exec properties."""
  input_config = example_gen_pb2.Input()
  proto_utils.json_to_proto(
    exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
  )
  output_config = example_gen_pb2.Output()
  proto_utils.json_to_proto(
    exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
  )
  return input_config, output_config


def split_assigner(
  component: str,
  output_config: example_gen_pb2.Output,
  feature_names: Optional[List[str]] = None,
) -> split_writing.SplitAssigner:
  """TFX's hash split of `output_config`.

  Args:
    component: named in errors.
    output_config: the ExampleGen's output config.
    feature_names: the examples' features, when known before reading, to
      check the partition feature against (otherwise each example is).

  Raises:
    OutputConfigError: no output splits, or a partition feature that the
      examples do not have.
  """
  split_config = output_config.split_config
  if not split_config.splits:
    raise OutputConfigError(
      f'{component} needs output splits (output_config.split_config); '
      'its input splits only fingerprint the dataset directory'
    )
  buckets = list(
    itertools.accumulate(split.hash_buckets for split in split_config.splits)
  )
  feature = split_config.partition_feature_name
  if feature and feature_names is not None and feature not in feature_names:
    raise OutputConfigError(
      f'output_config partition_feature_name {feature!r} is not a feature '
      f'of the examples (they have: {", ".join(feature_names)})'
    )
  return split_writing.SplitAssigner(buckets, feature)


def split_examples(
  assigned: beam.pvalue.PCollection,
  input_config: example_gen_pb2.Input,
  output_config: example_gen_pb2.Output,
) -> Dict[str, beam.pvalue.PCollection]:
  """Split name -> serialized examples, from (split index, example) pairs."""
  split_names = example_gen_utils.generate_output_split_names(
    input_config, output_config
  )
  parts = assigned | 'SplitData' >> beam.Partition(
    split_writing.split_of, len(split_names)
  )
  return {
    name: parts[index] | f'DropSplitIndex[{name}]' >> beam.Values()
    for index, name in enumerate(split_names)
  }


class SplitWriting:
  """Mixin for a `BaseExampleGenExecutor`: TFX's `Do` with our writer."""

  def _write_splits(self, examples: Any, exec_properties: Dict[str, Any]):
    """Writes each split where TFX's ExampleGen does; sets its properties.

    The splits are `GenerateExamplesByBeam`'s; the artifact gets their
    names and, as TFX's `BaseExampleGenExecutor.Do` sets them, the payload
    and file format.
    """
    with self._make_beam_pipeline() as pipeline:
      splits = self.GenerateExamplesByBeam(pipeline, exec_properties)
      examples.split_names = artifact_utils.encode_split_names(list(splits))
      for name, split in splits.items():
        _ = split | f'WriteSplit[{name}]' >> split_writing.WriteSplit(
          artifact_utils.get_split_uri([examples], name)
        )
    payload_format = exec_properties.get(
      standard_component_specs.OUTPUT_DATA_FORMAT_KEY
    )
    if payload_format:
      examples_utils.set_payload_format(examples, payload_format)
    file_format = exec_properties.get(
      standard_component_specs.OUTPUT_FILE_FORMAT_KEY
    )
    if file_format:
      examples_utils.set_file_format(
        examples, write_split.to_file_format_str(file_format)
      )
