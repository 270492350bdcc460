"""FastqExampleGen's driver: the cache fingerprint covers every FASTQ file.

TFX's FileBasedDriver fingerprints the files its input pattern matches (by
default `*`: the dataset directory's top-level files). An experiment may
name FASTQ files in subfolders, or under a `base_directory` elsewhere; a
changed file there would leave the fingerprint, and so the cache key,
unchanged, and a rerun would reuse counts of the old reads. This driver
appends one line per file the experiment names (read name, path, size in
bytes, modification time in nanoseconds) to TFX's fingerprint, so any
change to any of them makes a new execution. It also checks the layout
(fastq_dataset.fastq_files) before the executor is scheduled.

Kubeflow runs ExampleGen drivers through TFX's own container entry point,
not this class; there caching is Kubeflow's (by inputs and parameters).
"""

from typing import Any
from typing import Dict
from typing import List

from tfx.components.example_gen import driver
from tfx.components.example_gen import utils
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs

from components.data import fastq_dataset
from components.data.fastq_example_gen import executor


def fastq_fingerprint(exec_properties: Dict[str, Any]) -> List[str]:
  """One line per FASTQ file the experiment names, in a fixed order.

  Raises:
    fastq_dataset.FastqDatasetError: the experiment and the dataset
      directory disagree about the files.
  """
  config = executor.FastqConfig.from_exec_properties(exec_properties)
  input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
  files = fastq_dataset.fastq_files(config.experiment(), input_base)
  lines = []
  for name in sorted(files):
    for lane in files[name]:
      for path in filter(None, lane):
        stat = fileio.stat(path)
        lines.append(f'{name}:{path}:{stat.length}:{stat.mtime_nsec}')
  return lines


class FastqDriver(driver.FileBasedDriver):
  """FileBasedDriver whose fingerprint also covers the experiment's files."""

  def resolve_exec_properties(
    self, exec_properties, pipeline_info, component_info
  ) -> Dict[str, Any]:
    """TFX's exec properties, the fingerprint extended by fastq_fingerprint."""
    exec_properties = super().resolve_exec_properties(
      exec_properties, pipeline_info, component_info
    )
    key = utils.FINGERPRINT_PROPERTY_NAME
    exec_properties[key] = '\n'.join(
      [exec_properties[key]] + fastq_fingerprint(exec_properties)
    )
    return exec_properties
