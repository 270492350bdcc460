"""ImportExampleGen with an executor whose Beam workers import no TensorFlow.

TFX's ImportExampleGen executor parses every record into a TensorFlow
`tf.train.Example`, reshuffles the parsed messages one by one and
serialises them again to write, and its Beam workers import TensorFlow and
TFX (its partition function and writer live in `tfx.components`). At a
million examples on two workers that took about a minute
(benchmarks/RESULTS.md, ImportExampleGen throughput). This executor, for
the configuration the pipeline uses (one input split, TF Example records,
output splits by hash), reads the same files and writes the same splits,
file names, payload and file format: records are shuffled to the workers
in batches, each is parsed once with the TensorFlow-free `example_proto`,
assigned TFX's hash split (`split_writing`, tested equal to TFX's) and
written as it came. Any other configuration runs TFX's own executor
unchanged.

A record that is not a tf.Example fails the parse with protobuf's
`DecodeError`, and one without the partition feature with a `SplitError`
naming the feature; the runner then names the broken file and record
(`record_check`).
"""

import os
from typing import Any
from typing import Dict
from typing import List

from absl import logging
import apache_beam as beam
from tfx import types
from tfx.components.example_gen.import_example_gen import component
from tfx.components.example_gen.import_example_gen import executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs

from components.data import example_gen_splits
from components.data import split_writing

# Records per element of the shuffle that spreads the work over the workers.
RECORDS_PER_BATCH = 4096


@beam.ptransform_fn
def _ImportAndAssign(  # pylint: disable=invalid-name
  pipeline: beam.Pipeline,
  exec_properties: Dict[str, Any],
  split_pattern: str,
  assign: split_writing.SplitAssigner,
) -> beam.pvalue.PCollection:
  """(split index, serialized example) of every record the pattern matches.

  A gzip file cannot be split, so one worker reads each file; it only
  batches the records, and the batches are spread over the workers
  (`RECORDS_PER_BATCH` records make one element to shuffle, not one each),
  which parse, assign and write them: every worker writes its own files,
  so the splits come out in several files for the next components' workers
  to read in parallel.
  """
  pattern = os.path.join(
    exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern
  )
  logging.info('Reading input TFRecord data %s.', pattern)
  return (
    pipeline
    | 'ReadFromTFRecord' >> beam.io.ReadFromTFRecord(file_pattern=pattern)
    | 'Batch'
    >> beam.BatchElements(
      min_batch_size=RECORDS_PER_BATCH, max_batch_size=RECORDS_PER_BATCH
    )
    | 'Spread' >> beam.Reshuffle()
    | 'AssignSplit' >> beam.FlatMap(split_writing.assign_records, assign)
  )


def handles(exec_properties: Dict[str, Any]) -> bool:
  """Whether this executor's path applies (otherwise TFX's runs).

  One input split of TF Example records, split by hash into output splits.
  """
  input_config, output_config = example_gen_splits.input_and_output_configs(
    exec_properties
  )
  payload = exec_properties.get(
    standard_component_specs.OUTPUT_DATA_FORMAT_KEY,
    example_gen_pb2.FORMAT_TF_EXAMPLE,
  )
  return (
    len(input_config.splits) == 1
    and bool(output_config.split_config.splits)
    and payload == example_gen_pb2.FORMAT_TF_EXAMPLE
  )


class Executor(example_gen_splits.SplitWriting, executor.Executor):
  """TFX's ImportExampleGen executor with TensorFlow-free Beam workers."""

  def GenerateExamplesByBeam(
    self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
  ) -> Dict[str, beam.pvalue.PCollection]:
    """Split name -> serialized examples, split as TFX's ExampleGen splits."""
    if not handles(exec_properties):
      return super().GenerateExamplesByBeam(pipeline, exec_properties)
    input_config, output_config = example_gen_splits.input_and_output_configs(
      exec_properties
    )
    assign = example_gen_splits.split_assigner(
      'ImportExampleGen', output_config
    )
    assigned = pipeline | 'InputToRecord' >> _ImportAndAssign(  # pylint: disable=no-value-for-parameter
      exec_properties, input_config.splits[0].pattern, assign
    )
    return example_gen_splits.split_examples(
      assigned, input_config, output_config
    )

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    """Writes the split examples (TFX's `Do` where `handles` is false)."""
    if not handles(exec_properties):
      super().Do(input_dict, output_dict, exec_properties)
      return
    self._log_startup(input_dict, output_dict, exec_properties)
    examples = artifact_utils.get_single_instance(
      output_dict[standard_component_specs.EXAMPLES_KEY]
    )
    logging.info('Generating examples.')
    self._write_splits(examples, exec_properties)
    logging.info('Examples generated.')


class ImportExampleGen(component.ImportExampleGen):
  """TFX's ImportExampleGen run by `Executor`: same arguments, outputs, id."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
