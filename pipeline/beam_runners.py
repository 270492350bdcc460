"""Beam runner presets: the one place that decides how Beam runs.

Every Beam-based component (ImportExampleGen, StatisticsGen,
DataContractCheck, Transform, Evaluator, ...) receives the pipeline-level
`beam_pipeline_args`, so choosing a preset here moves all of them at once.

  beam_pipeline_args('in_memory')
  beam_pipeline_args('multi_processing', direct_num_workers=4)
  beam_pipeline_args('dataflow', project='p', region='europe-west4',
                     temp_location='gs://b/tmp',
                     sdk_container_image='europe-docker.pkg.dev/p/r/img:1')
  beam_pipeline_args('flink', flink_master='flink-jobmanager:8081')
  beam_pipeline_args('spark', spark_rest_url='http://spark-master:6066')

Required options are checked and a missing one is named in the error.
Option values are strings or ints; `None` means "not given". Flink and Spark
use the portable runner with the uber jar (no job server to run) and a
LOOPBACK environment: the SDK harness runs in the process that submits the
job (the component's container on Kubeflow), so the Flink or Spark workers
must be able to reach it, and need no Python image of their own.
"""

import dataclasses
import os
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple


class BeamRunnerError(ValueError):
  """An unknown preset, a missing required option or an unusable value.

  Attributes:
    options: the option names at fault (empty for an unknown preset).
  """

  def __init__(self, message: str, options: Sequence[str] = ()):
    super().__init__(message)
    self.options = list(options)


@dataclasses.dataclass(frozen=True)
class Option:
  """One option of a preset.

  Attributes:
    name: keyword of `beam_pipeline_args` (and, prefixed with `beam_`, the
      command-line flag of the runners).
    help: one line for `--help`.
    type: `str` or `int`.
    required: the preset cannot run without it.
    default: used when the option is not given (None: left to Beam).
  """

  name: str
  help: str
  type: type = str
  required: bool = False
  default: Any = None


@dataclasses.dataclass(frozen=True)
class Preset:
  """A Beam runner and the options it accepts.

  Attributes:
    runner: the Beam runner class name.
    description: one line for `--help`.
    options: the accepted options.
    build: turns the resolved options (every name present, None when not
      given) into Beam command-line arguments.
  """

  runner: str
  description: str
  options: Tuple[Option, ...]
  build: Callable[[Dict[str, Any]], List[str]]


def _flag(name: str, value: Any) -> List[str]:
  """`--name=value`, or nothing when the value is not given."""
  return [] if value is None else [f'--{name}={value}']


def _direct(mode: str) -> Callable[[Dict[str, Any]], List[str]]:
  def build(o: Dict[str, Any]) -> List[str]:
    return [
      f'--direct_running_mode={mode}',
      f'--direct_num_workers={o["direct_num_workers"]}',
    ]

  return build


def _dataflow(o: Dict[str, Any]) -> List[str]:
  for key in ('temp_location', 'staging_location'):
    if o[key] is not None and not str(o[key]).startswith('gs://'):
      raise BeamRunnerError(
        f'dataflow: {key} must be a gs:// URI, got {o[key]!r}', [key]
      )
  return [
    '--runner=DataflowRunner',
    f'--project={o["project"]}',
    f'--region={o["region"]}',
    f'--temp_location={o["temp_location"]}',
    *_flag('staging_location', o['staging_location']),
    # Workers run the pipeline image, so they have this repository's code
    # (custom containers need Runner v2).
    f'--sdk_container_image={o["sdk_container_image"]}',
    '--experiments=use_runner_v2',
    f'--machine_type={o["machine_type"]}',
    f'--disk_size_gb={o["disk_size_gb"]}',
    *_flag('max_num_workers', o['max_num_workers']),
    *_flag('service_account_email', o['service_account_email']),
    *_flag('subnetwork', o['subnetwork']),
  ]


def _portable(o: Dict[str, Any]) -> List[str]:
  """Arguments shared by the portable runners (Flink, Spark)."""
  return [
    f'--environment_type={o["environment_type"]}',
    # LOOPBACK workers as processes, not threads: real parallelism.
    '--experiments=use_loopback_process_worker=True',
    f'--sdk_worker_parallelism={o["sdk_worker_parallelism"]}',
    '--environment_cache_millis=1000000',
    '--experiments=pre_optimize=all',
    *_flag('environment_config', o['environment_config']),
  ]


def _flink(o: Dict[str, Any]) -> List[str]:
  return [
    '--runner=FlinkRunner',
    f'--flink_master={o["flink_master"]}',
    *_flag('flink_version', o['flink_version']),
    '--flink_submit_uber_jar',
    *_flag('flink_job_server_jar', o['job_server_jar']),
    *_flag('parallelism', o['parallelism']),
    *_portable(o),
  ]


def _spark(o: Dict[str, Any]) -> List[str]:
  return [
    '--runner=SparkRunner',
    '--spark_submit_uber_jar',
    f'--spark_rest_url={o["spark_rest_url"]}',
    *_flag('spark_job_server_jar', o['job_server_jar']),
    *_portable(o),
  ]


_PORTABLE_OPTIONS = (
  Option(
    'environment_type',
    'Where the Python SDK harness runs: LOOPBACK (in the submitting '
    'process), EXTERNAL, PROCESS or DOCKER.',
    default='LOOPBACK',
  ),
  Option(
    'environment_config',
    'Environment configuration (DOCKER: image URL; PROCESS: JSON).',
  ),
  Option(
    'sdk_worker_parallelism',
    'SDK worker processes per worker node (0: chosen by the runner).',
    type=int,
    default=1,
  ),
  Option(
    'job_server_jar',
    'Path or URL of the Beam job server jar the uber jar is built from '
    '(default: downloaded from Maven Central, which needs internet access).',
  ),
)

_DIRECT_WORKERS_HELP = (
  'DirectRunner workers: threads (in_memory, default 1) or processes '
  '(multi_processing, default 0: one per core).'
)

PRESETS: Dict[str, Preset] = {
  'in_memory': Preset(
    runner='DirectRunner',
    description='One process, threads; for tests and small data.',
    options=(
      Option('direct_num_workers', _DIRECT_WORKERS_HELP, type=int, default=1),
    ),
    build=_direct('in_memory'),
  ),
  'multi_processing': Preset(
    runner='DirectRunner',
    description=(
      'Worker processes on this machine (proves the code pickles, as it '
      'must on a distributed runner).'
    ),
    options=(
      Option('direct_num_workers', _DIRECT_WORKERS_HELP, type=int, default=0),
    ),
    build=_direct('multi_processing'),
  ),
  'dataflow': Preset(
    runner='DataflowRunner',
    description='Google Cloud Dataflow, workers running the pipeline image.',
    options=(
      Option('project', 'Google Cloud project.', required=True),
      Option('region', 'Dataflow region, e.g. europe-west4.', required=True),
      Option(
        'temp_location',
        'gs:// directory for temporary files (the Kubeflow runner defaults '
        'it to <pipeline_root>/beam-tmp for a gs:// pipeline root).',
        required=True,
      ),
      Option('staging_location', 'gs:// directory for staged files.'),
      Option(
        'sdk_container_image',
        'Worker image: the pipeline image (the Kubeflow runner defaults it '
        'to --image).',
        required=True,
      ),
      Option('machine_type', 'Worker machine type.', default='e2-standard-8'),
      Option('disk_size_gb', 'Worker disk size (GB).', type=int, default=50),
      Option('max_num_workers', 'Autoscaling limit.', type=int),
      Option('service_account_email', 'Worker service account.'),
      Option('subnetwork', 'Worker subnetwork (full URL or regions/R/...).'),
    ),
    build=_dataflow,
  ),
  'flink': Preset(
    runner='FlinkRunner',
    description='An Apache Flink cluster (portable runner, uber jar).',
    options=(
      Option(
        'flink_master',
        'Flink REST address, e.g. flink-jobmanager:8081.',
        required=True,
      ),
      Option(
        'flink_version',
        "The cluster's Flink version (Beam 2.59: 1.15 to 1.18; default "
        "Beam's newest).",
      ),
      Option(
        'parallelism',
        'Flink parallelism (default: the cluster default).',
        type=int,
      ),
      *_PORTABLE_OPTIONS,
    ),
    build=_flink,
  ),
  'spark': Preset(
    runner='SparkRunner',
    description='An Apache Spark 3 cluster (portable runner, uber jar).',
    options=(
      Option(
        'spark_rest_url',
        'Spark REST submission URL, e.g. http://spark-master:6066.',
        required=True,
      ),
      *_PORTABLE_OPTIONS,
    ),
    build=_spark,
  ),
}


def option_names() -> List[str]:
  """Every option name of every preset, sorted (one flag each)."""
  return sorted({o.name for p in PRESETS.values() for o in p.options})


def option(name: str) -> Option:
  """The first preset option with this name (for flag definitions)."""
  for preset in PRESETS.values():
    for opt in preset.options:
      if opt.name == name:
        return opt
  raise KeyError(name)


def beam_pipeline_args(
  runner: str,
  extra_args: Optional[Sequence[str]] = None,
  **options: Any,
) -> List[str]:
  """Beam arguments of a preset.

  Args:
    runner: a key of `PRESETS`: in_memory, multi_processing, dataflow,
      flink or spark.
    extra_args: raw Beam arguments appended as given (Beam's parser keeps
      the last value of a repeated option, so these override the preset).
    **options: the preset's options (see `PRESETS[runner].options`); None
      means not given.

  Returns:
    The arguments, e.g. for `create_pipeline(beam_pipeline_args=...)`.

  Raises:
    BeamRunnerError: unknown runner, unknown or missing required options, or
      an unusable value.
  """
  if runner not in PRESETS:
    raise BeamRunnerError(
      f'unknown Beam runner preset {runner!r}; known: {sorted(PRESETS)}'
    )
  preset = PRESETS[runner]
  accepted = {o.name: o for o in preset.options}
  unknown = sorted(
    k for k, v in options.items() if k not in accepted and v is not None
  )
  if unknown:
    raise BeamRunnerError(
      f'{runner} ({preset.runner}) does not take option(s) {unknown}; it '
      f'takes {sorted(accepted)}',
      unknown,
    )
  resolved = {}
  for name, opt in accepted.items():
    value = options.get(name)
    if value is None or value == '':
      value = opt.default
    elif opt.type is int:
      try:
        value = int(value)
      except (TypeError, ValueError):
        raise BeamRunnerError(
          f'{runner}: option {name} must be an integer, got {value!r}', [name]
        ) from None
    resolved[name] = value
  missing = [n for n, o in accepted.items() if o.required and not resolved[n]]
  if missing:
    raise BeamRunnerError(
      f'{runner} ({preset.runner}) needs option(s) {", ".join(missing)}',
      missing,
    )
  return preset.build(resolved) + list(extra_args or ())


# This checkout's setup.py: the dependency file of every Beam worker.
SETUP_FILE = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'setup.py'
)


# The options that stop TFX building its ephemeral package
# (tfx/utils/dependency_utils.py).
_DEPENDENCY_FLAGS = (
  '--extra_package',
  '--setup_file',
  '--requirements_file',
  '--worker_harness_container_image',
  '--sdk_container_image',
)


def with_local_dependencies(args: Sequence[str]) -> List[str]:
  """DirectRunner arguments that name this checkout's setup.py.

  A TFX Beam executor given Beam arguments but no dependency option
  (`--setup_file`, `--extra_package`, ...) repackages TFX as a
  `tfx_ephemeral` sdist for the workers: about 1 s and a 49 MB copy of TFX
  in a new temporary directory that is never removed, for every Beam
  component of every run. DirectRunner workers run in this Python
  environment and need nothing shipped (the DirectRunner ignores
  `--setup_file`). setup.py does describe what they depend on, so naming it
  is true, and TFX then skips the package.

  Args:
    args: DirectRunner arguments, e.g. from `beam_pipeline_args`.

  Returns:
    `args` plus `--setup_file`, unchanged if setup.py is absent (a
    non-editable install) or a dependency option is already given.
  """
  args = list(args)
  if not os.path.exists(SETUP_FILE) or any(
    a.startswith(_DEPENDENCY_FLAGS) for a in args
  ):
    return args
  return args + [f'--setup_file={SETUP_FILE}']
