"""Compiles the pipeline for Kubeflow Pipelines (KFP v2) and optionally runs it.

  python kubeflow/kubeflow_v2_runner.py --pipeline_root=gs://BUCKET/root
      --image=REGISTRY/aptamer-tfx:TAG --input_dir=gs://BUCKET/data/demo
      --run_name=demo --epochs=20 [--output_file=aptamer-tfx.yaml]
      [--kfp_backend=oss|vertex]
      [--beam_runner=dataflow --beam_project=P --beam_region=R]
      [--host=https://KFP_HOST --experiment=aptamer]

`KubeflowV2DagRunner` turns the same `create_pipeline(...)` the local runner
uses into a KFP v2 pipeline spec: JSON (a PipelineJob, as Vertex AI takes
it) or, when `--output_file` ends in .yaml/.yml, YAML (the PipelineSpec, as
the `kfp` client and the KFP UI take it). With `--host`, the package is also
submitted as a run (and with `--upload`, uploaded as a pipeline version).

Every task runs the image given by `--image`, built from kubeflow/Dockerfile:
the code is baked in and the UDFs are dotted paths (`configs.RUN_FN`, ...),
so nothing is packaged into wheels at compile time. The experiment.pbtxt is
read here, at compile time (it becomes a component parameter), so
`--input_dir` must be readable both here and by the cluster: use gs:// (or
another tf.io.gfile scheme) rather than a local path.

`--kfp_backend` says which backend runs the spec. `oss` (the default) is
the open-source Kubeflow Pipelines backend most labs run: it has no
resolver executor, so the Evaluator's baseline (the latest blessed model)
comes from an ordinary task reading the Pusher's directory
(`components/evaluation/pushed_baseline.py`); that spec runs on Vertex AI
too, and is compiled to PipelineSpec schema 2.1 (the open-source driver
reads only its `constant` parameter values). `vertex` keeps TFX's metadata
Resolver, which only Vertex AI Pipelines executes, and schema 2.0. Both keep the Pusher's trigger condition, a CEL
expression over the blessing artifact that both backends evaluate.

The run flags are the local runner's (`pipeline/run_options.py`), except
`--save_base` and `--beam_mode`, which `--pipeline_root` and
`--beam_runner` replace.

`kubeflow/` is deliberately not a Python package (a top-level `kubeflow`
package would shadow the kubeflow distribution), so this script puts the
repository root on sys.path itself to import `pipeline` and `components`.
"""

import os
import sys

# Run as a script: make the repository's packages importable.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)

import dataclasses  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402
from typing import Dict  # noqa: E402
from typing import List  # noqa: E402
from typing import Optional  # noqa: E402

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
import tensorflow as tf  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
import yaml  # noqa: E402

from components.data import data_contract  # noqa: E402
from pipeline import beam_runners  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import pipeline as pipeline_lib  # noqa: E402
from pipeline import run_options  # noqa: E402
from pipeline import stages  # noqa: E402
from schema import experiment as experiment_lib  # noqa: E402

RunOptions = run_options.RunOptions

# Run flags that do not apply on Kubeflow (see the module docstring).
SKIPPED_RUN_FLAGS = ('save_base', 'beam_mode', 'beam_num_workers', 'verbosity')

# KFP v2 (pipeline_builder._LEGAL_NAME_PATTERN): no underscores.
_LEGAL_NAME = re.compile(r'^[a-z0-9][a-z0-9-]{0,127}$')

_YAML_SUFFIXES = ('.yaml', '.yml')

# Backend -> how the Evaluator finds its baseline (see the module docstring).
BACKEND_BASELINES = {
  'oss': stages.BASELINE_FROM_SERVING_DIR,
  'vertex': stages.BASELINE_FROM_METADATA,
}
DEFAULT_BACKEND = 'oss'


InputError = run_options.InputError


@dataclasses.dataclass
class KubeflowOptions:
  """Options of the Kubeflow side (the run itself is a `RunOptions`).

  Attributes:
    pipeline_root: root of every artifact; must be reachable from the
      cluster (gs://, s3:// on MinIO, ...).
    image: the pipeline image (kubeflow/Dockerfile) every task runs.
    pipeline_name: KFP pipeline name ([a-z0-9][a-z0-9-]*).
    serving_model_dir: where the Pusher copies blessed models; empty means
      `<pipeline_root>/<run_name>/serving_model`.
    beam_runner: a `pipeline.beam_runners.PRESETS` key.
    beam_options: that preset's options (None: not given).
    beam_extra_args: raw Beam arguments appended to the preset's.
    output_file: the compiled package (.json, or .yaml/.yml); empty means
      `<pipeline_name>.json` in the current directory.
    host: KFP API endpoint; empty: compile only.
    namespace: Kubernetes namespace (multi-user KFP); empty: the default.
    experiment: KFP experiment of the run.
    upload: also upload the package as a version of pipeline_name.
    service_account: Kubernetes service account of the run.
    kfp_backend: a BACKEND_BASELINES key: `oss` (open-source Kubeflow
      Pipelines, no resolver nodes; also runs on Vertex AI) or `vertex`.
  """

  pipeline_root: str
  image: str
  pipeline_name: str = configs.PIPELINE_NAME
  serving_model_dir: str = ''
  beam_runner: str = 'in_memory'
  beam_options: Dict[str, Any] = dataclasses.field(default_factory=dict)
  beam_extra_args: List[str] = dataclasses.field(default_factory=list)
  output_file: str = ''
  host: str = ''
  namespace: str = ''
  experiment: str = 'aptamer-tfx'
  upload: bool = False
  service_account: str = ''
  kfp_backend: str = DEFAULT_BACKEND


_join = run_options.join_uri


def _has_scheme(path: str) -> bool:
  return '://' in path


resolve_input_dir = run_options.resolve_input_dir
load_experiment_text = run_options.load_experiment_text


def serving_model_dir(options: RunOptions, kf: KubeflowOptions) -> str:
  return kf.serving_model_dir or _join(
    kf.pipeline_root, options.run_name, 'serving_model'
  )


def beam_args(kf: KubeflowOptions) -> List[str]:
  """The Beam arguments; Dataflow defaults come from the Kubeflow options."""
  options = dict(kf.beam_options)
  if kf.beam_runner == 'dataflow':
    # Dataflow workers run the pipeline image, temp files go beside the
    # artifacts unless told otherwise.
    options['sdk_container_image'] = (
      options.get('sdk_container_image') or kf.image
    )
    if not options.get('temp_location') and kf.pipeline_root.startswith(
      'gs://'
    ):
      options['temp_location'] = _join(kf.pipeline_root, 'beam-tmp')
  try:
    return beam_runners.beam_pipeline_args(
      kf.beam_runner, extra_args=kf.beam_extra_args, **options
    )
  except beam_runners.BeamRunnerError as e:
    named = ', '.join(f'--beam_{o}' for o in e.options)
    raise InputError(f'{e}' + (f' (flags: {named})' if named else '')) from e


def check_options(kf: KubeflowOptions) -> None:
  """Fails early, naming the flag, on what the cluster could not run."""
  if not kf.pipeline_root:
    raise InputError(
      '--pipeline_root is required (gs://... or another URI the cluster '
      'can reach)'
    )
  if not kf.image:
    raise InputError(
      '--image is required: the image built from kubeflow/Dockerfile'
    )
  if kf.kfp_backend not in BACKEND_BASELINES:
    raise InputError(
      f'--kfp_backend={kf.kfp_backend!r}: expected one of '
      f'{sorted(BACKEND_BASELINES)}'
    )
  if not _LEGAL_NAME.match(kf.pipeline_name):
    raise InputError(
      f'--pipeline_name={kf.pipeline_name!r} is not a legal KFP name '
      f'([a-z0-9][a-z0-9-]{{0,127}}: lower case, digits, hyphens)'
    )


def build_pipeline(
  options: RunOptions, kf: KubeflowOptions
) -> tfx.dsl.Pipeline:
  """The pipeline for these options (validates the dataset first)."""
  check_options(kf)
  input_dir = resolve_input_dir(options)
  recipe = run_options.dataset_recipe(options)
  if recipe:
    # Simulating 180 MB of reads is the local runner's job, not a compile's.
    raise InputError(
      f'--dataset={options.dataset} is simulated from {recipe} by '
      f'the local runner on first use (into {input_dir}); make it with '
      f'`python -m pipeline.local_runner --dataset={options.dataset}`, copy '
      'it where the cluster can read it and pass --input_dir'
    )
  for flag, path in (
    ('--input_dir', input_dir),
    ('--pipeline_root', kf.pipeline_root),
  ):
    if not _has_scheme(path):
      logging.warning(
        '%s=%s is a local path: the cluster must see it at the same path',
        flag,
        path,
      )
  kind = run_options.dataset_kind(options, input_dir)
  experiment_pbtxt = load_experiment_text(input_dir, kind)
  config = run_options.pipeline_config(options)
  pipeline = pipeline_lib.create_pipeline(
    pipeline_name=kf.pipeline_name,
    pipeline_root=kf.pipeline_root,
    data_root=input_dir,
    experiment_pbtxt=experiment_pbtxt,
    serving_model_dir=serving_model_dir(options, kf),
    beam_pipeline_args=beam_args(kf),
    # KFP keeps the metadata; no connection config travels in the spec.
    metadata_connection_config=None,
    config=config,
    enable_cache=options.enable_cache,
    fastq=kind == 'fastq',
    baseline_source=BACKEND_BASELINES[kf.kfp_backend],
  )
  # Module files would be packaged into wheels under <pipeline_root>/_wheels
  # at compile time (needing write access there); the image has the code.
  packaged = [
    c.id
    for c in pipeline.components
    if getattr(c, 'exec_properties', {}).get('module_file')
  ]
  if packaged:
    raise InputError(
      f'components {packaged} use module_file; use dotted-path UDFs '
      f'(the code is baked into the image)'
    )
  return pipeline


def output_path(kf: KubeflowOptions) -> str:
  return kf.output_file or f'{kf.pipeline_name}.json'


def _yaml_text(job: Dict[str, Any]) -> str:
  """The PipelineSpec as YAML, with the header the KFP compiler writes."""
  spec = job['pipelineSpec']
  header = (
    f'# PIPELINE DEFINITION\n# Name: {spec["pipelineInfo"]["name"]}\n'
    f'# Description: compiled from TFX {tfx.__version__} by aptamer-tfx.\n'
  )
  return header + yaml.safe_dump(spec, sort_keys=True)


def write_package(job: Dict[str, Any], path: str) -> None:
  """Writes the PipelineJob (JSON) or its PipelineSpec (YAML) to `path`."""
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(path, 'w') as f:
    if path.endswith(_YAML_SUFFIXES):
      f.write(_yaml_text(job))
    else:
      json.dump(job, f, sort_keys=True)


def compile_pipeline(options: RunOptions, kf: KubeflowOptions) -> str:
  """Compiles the pipeline to `output_path(kf)` and returns that path."""
  pipeline = build_pipeline(options, kf)
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
    config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
      display_name=kf.pipeline_name,
      default_image=kf.image,
      # The open-source driver reads only schema 2.1's `constant` parameter
      # values; 2.0's `constantValue` fails there as "not implemented".
      use_pipeline_spec_2_1=kf.kfp_backend == 'oss',
    )
  )
  job = runner.run(pipeline, write_out=False)
  if kf.kfp_backend == 'oss':
    # The open-source backend refuses the whole spec over one resolver.
    executors = job['pipelineSpec']['deploymentSpec']['executors']
    resolvers = sorted(n for n, e in executors.items() if 'resolver' in e)
    if resolvers:
      raise InputError(
        f'--kfp_backend=oss: the spec has resolver executors {resolvers}, '
        'which the open-source backend cannot run'
      )
  # The YAML form has no runtimeConfig: keep the root in the spec itself,
  # so an uploaded pipeline still writes where it was compiled for.
  job['pipelineSpec']['defaultPipelineRoot'] = kf.pipeline_root
  path = output_path(kf)
  write_package(job, path)
  return path


def yaml_package(path: str) -> str:
  """A YAML package of a compiled file (the kfp client reads only YAML)."""
  if path.endswith(_YAML_SUFFIXES):
    return path
  with tf.io.gfile.GFile(path) as f:
    job = json.load(f)
  yaml_path = os.path.splitext(path)[0] + '.yaml'
  write_package(job, yaml_path)
  return yaml_path


def submit(
  path: str, options: RunOptions, kf: KubeflowOptions, client: Any = None
) -> Optional[str]:
  """Submits a compiled package to KFP; returns the run id.

  Args:
    path: the compiled package.
    options: the run options (run name, caching).
    kf: the Kubeflow options (host, namespace, experiment, ...).
    client: a `kfp.Client` (default: one for `kf.host`).

  Returns:
    The id of the created run.
  """
  if client is None:
    import kfp  # Only needed to talk to a cluster.

    kwargs = {'namespace': kf.namespace} if kf.namespace else {}
    client = kfp.Client(host=kf.host, **kwargs)
  package = yaml_package(path)
  namespace = kf.namespace or None
  if kf.upload:
    pipeline_id = client.get_pipeline_id(kf.pipeline_name)
    version = f'{options.run_name}-{time.strftime("%Y%m%d-%H%M%S")}'
    if pipeline_id:
      client.upload_pipeline_version(
        package, pipeline_version_name=version, pipeline_id=pipeline_id
      )
    else:
      client.upload_pipeline(
        package, pipeline_name=kf.pipeline_name, namespace=namespace
      )
  result = client.create_run_from_pipeline_package(
    package,
    arguments={},
    run_name=options.run_name,
    experiment_name=kf.experiment,
    namespace=namespace,
    pipeline_root=kf.pipeline_root,
    enable_caching=options.enable_cache,
    service_account=kf.service_account or None,
  )
  return result.run_id


def define_flags() -> Dict[str, flags.FlagHolder]:
  """The run flags (shared with the local runner) plus the Kubeflow ones."""
  holders = run_options.define_flags(skip=SKIPPED_RUN_FLAGS)
  kf = {
    'pipeline_root': flags.DEFINE_string(
      'pipeline_root', '', 'Artifact root the cluster can reach (gs://...).'
    ),
    'image': flags.DEFINE_string(
      'image', '', 'Pipeline image (kubeflow/Dockerfile) every task runs.'
    ),
    'pipeline_name': flags.DEFINE_string(
      'pipeline_name', configs.PIPELINE_NAME, 'KFP pipeline name (hyphens).'
    ),
    'serving_model_dir': flags.DEFINE_string(
      'serving_model_dir',
      '',
      'Pusher destination; default <pipeline_root>/<run_name>/serving_model.',
    ),
    'beam_runner': flags.DEFINE_enum(
      'beam_runner',
      'in_memory',
      sorted(beam_runners.PRESETS),
      'Beam runner preset of every Beam-based component: '
      + '; '.join(
        f'{k}: {p.description}' for k, p in beam_runners.PRESETS.items()
      ),
    ),
    'beam_extra_args': flags.DEFINE_multi_string(
      'beam_extra_args', [], 'Raw Beam argument appended to the preset.'
    ),
    'output_file': flags.DEFINE_string(
      'output_file',
      '',
      'Compiled package: .json (PipelineJob) or .yaml/.yml (PipelineSpec); '
      'default <pipeline_name>.json.',
    ),
    'host': flags.DEFINE_string(
      'host', '', 'KFP API endpoint; when given, the package is run there.'
    ),
    'namespace': flags.DEFINE_string(
      'namespace', '', 'Kubernetes namespace (multi-user KFP).'
    ),
    'experiment': flags.DEFINE_string(
      'experiment', 'aptamer-tfx', 'KFP experiment of the run.'
    ),
    'upload': flags.DEFINE_bool(
      'upload', False, 'With --host: also upload as a pipeline version.'
    ),
    'service_account': flags.DEFINE_string(
      'service_account', '', 'Kubernetes service account of the run.'
    ),
    'kfp_backend': flags.DEFINE_enum(
      'kfp_backend',
      DEFAULT_BACKEND,
      sorted(BACKEND_BASELINES),
      'oss: open-source Kubeflow Pipelines (no resolver nodes; the '
      "Evaluator's baseline is the newest pushed model; also runs on Vertex "
      "AI). vertex: Vertex AI Pipelines, with TFX's metadata Resolver.",
    ),
  }
  beam = {}
  for name in beam_runners.option_names():
    opt = beam_runners.option(name)
    define = flags.DEFINE_integer if opt.type is int else flags.DEFINE_string
    beam[name] = define(f'beam_{name}', None, f'Beam preset option: {opt.help}')
  return {'run': holders, 'kubeflow': kf, 'beam': beam}


def from_flags(holders) -> tuple:
  """(RunOptions, KubeflowOptions) from parsed flags."""
  options = run_options.from_flags(holders['run'])
  kf_values = {name: h.value for name, h in holders['kubeflow'].items()}
  beam_options = {
    name: h.value for name, h in holders['beam'].items() if h.value is not None
  }
  return options, KubeflowOptions(beam_options=beam_options, **kf_values)


_FLAGS = {}


def main(argv):
  del argv
  try:
    options, kf = from_flags(_FLAGS)
    path = compile_pipeline(options, kf)
    print(f'Compiled pipeline {kf.pipeline_name!r} to {path}')
    if kf.host:
      run_id = submit(path, options, kf)
      print(f'Submitted run {options.run_name!r} to {kf.host}: {run_id}')
  except (
    InputError,
    ValueError,
    experiment_lib.ExperimentError,
    data_contract.DataContractError,
  ) as e:
    logging.error('%s', e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  _FLAGS.update(define_flags())
  logging.set_verbosity(logging.INFO)
  app.run(main)
