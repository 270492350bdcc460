"""FastqExampleGen: a FileBasedExampleGen that counts FASTQ reads.

Defined in an importable module (not `__main__`) so that compiled pipelines,
KubeflowV2DagRunner's included, can name the executor by import path.

It is an ExampleGen in every TFX sense: FileBasedExampleGen's spec, a
FileBasedDriver (driver.py), the standard `Examples` output, split by
ExampleGen's output_config. What differs is the executor (executor.py) and
its custom_config, which carries the experiment text, the read filters'
thresholds and the clustering distance.

Caching: the fingerprint covers every top-level file of the dataset
directory (TFX's, through the input pattern `*`: experiment.pbtxt
included) and every FASTQ file the experiment names, wherever it lies
(driver.py: read name, path, size and modification time). An unchanged
dataset is a cache hit; a change to any of those files is a new execution.
"""

from typing import Any
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

from tfx import v1 as tfx
from tfx.components.example_gen import component
from tfx.dsl.components.base import executor_spec

from components.data import clustering
from components.data.fastq import read_stats
from components.data.fastq_example_gen import driver
from components.data.fastq_example_gen import executor

DEFAULT_INPUT_PATTERN = '*'


class FastqExampleGen(component.FileBasedExampleGen):
  """Counts the FASTQ reads of an experiment into split tf.Examples.

  One example per unique sequence that passed the read filters:
  `sequence` (bytes), one int64 count per read name of the experiment
  (zeros included) and `cluster` (int64, Levenshtein clusters, 1..K), the
  contract ImportExampleGen's input follows (DESIGN.md). The per-file read
  statistics are written beside the splits
  (`<examples uri>/read_statistics.json` and `.md`).

  ## Example
  ```
    example_gen = FastqExampleGen(
        input_base=data_root,
        experiment_pbtxt=experiment_text,
        read_qc={'max_bad_bases': 3},
        output_config=split_output_config())
  ```
  """

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
  DRIVER_CLASS = driver.FastqDriver

  def __init__(
    self,
    input_base: str,
    experiment_pbtxt: str,
    read_qc: Optional[Mapping[str, Any]] = None,
    max_distance: int = clustering.DEFAULT_MAX_DISTANCE,
    min_pass_fraction: float = read_stats.DEFAULT_MIN_PASS_FRACTION,
    input_config: Optional[tfx.proto.Input] = None,
    output_config: Optional[tfx.proto.Output] = None,
  ):
    """Constructs a FastqExampleGen.

    Args:
      input_base: the dataset directory (experiment.pbtxt and the FASTQ
        files it names; relative paths resolve against it, or against the
        experiment's base_directory).
      experiment_pbtxt: the experiment in protobuf text format.
      read_qc: ReadQcConfig thresholds by name (executor.QC_FIELDS), e.g.
        {'min_mean_quality': 25.0}; the rest keep the original's defaults.
      max_distance: sequences within this Levenshtein distance share a
        cluster (5 in the original).
      min_pass_fraction: a file whose share of okay reads is smaller
        fails the run.
      input_config: the files TFX's driver fingerprints besides the
        experiment's FASTQ files; default: one split with pattern `*`.
      output_config: the output splits; None: TFX's default (train/eval
        2:1 by hashing whole examples). `split_output_config()` gives this
        repository's cluster-disjoint train/validation/test.

    Raises:
      FastqExampleGenError, read_qc.ReadQcConfigError,
      schema.experiment.ExperimentError: an invalid argument (raised here,
      at pipeline construction, not at run time).
    """
    config = executor.FastqConfig(
      experiment_pbtxt=experiment_pbtxt,
      read_qc=dict(read_qc or {}),
      max_distance=max_distance,
      min_pass_fraction=min_pass_fraction,
    )
    config.validate()
    super().__init__(
      input_base=input_base,
      input_config=input_config or default_input_config(),
      output_config=output_config,
      custom_config=config.to_custom_config(),
    )


def default_input_config() -> tfx.proto.Input:
  """One input split matching every top-level file (the fingerprint)."""
  return tfx.proto.Input(
    splits=[
      tfx.proto.Input.Split(name='single_split', pattern=DEFAULT_INPUT_PATTERN)
    ]
  )


def split_output_config(
  hash_buckets: Optional[Sequence[Tuple[str, int]]] = None,
) -> tfx.proto.Output:
  """Cluster-disjoint splits: the `cluster` feature hashed into buckets.

  Args:
    hash_buckets: (split name, buckets) pairs; None: the repository's
      train/validation/test (pipeline/configs.py SPLIT_HASH_BUCKETS).
  """
  if hash_buckets is None:
    # Imported here: pipeline/ wires components, not the other way round.
    from pipeline import configs  # pylint: disable=g-import-not-at-top

    hash_buckets = configs.SPLIT_HASH_BUCKETS
  return tfx.proto.Output(
    split_config=tfx.proto.SplitConfig(
      splits=[
        tfx.proto.SplitConfig.Split(name=name, hash_buckets=buckets)
        for name, buckets in hash_buckets
      ],
      partition_feature_name=executor.CLUSTER_FEATURE,
    )
  )


def fastq_example_gen(
  input_base: str, experiment_pbtxt: str, **kwargs
) -> FastqExampleGen:
  """A FastqExampleGen with the repository's cluster-disjoint splits.

  Args:
    input_base: the dataset directory.
    experiment_pbtxt: the experiment in protobuf text format.
    **kwargs: FastqExampleGen's other arguments (not output_config).
  """
  return FastqExampleGen(
    input_base=input_base,
    experiment_pbtxt=experiment_pbtxt,
    output_config=split_output_config(),
    **kwargs,
  )
