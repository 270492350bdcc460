"""The demo pipeline runs shared by every test that needs a trained model.

`record_demo_runs` runs LocalDagRunner three times in one directory and
records what each run left: a first run that is `make demo` itself (the
bundled recipe's reads simulated, counted, trained on, blessed, pushed and
designed from); an identical second run served from the cache; a third
with an impossible blessing threshold, which must not push. conftest.py
makes it a session fixture, so the pipeline trains once per test session.
"""

import contextlib
import dataclasses
import io
import os
from typing import List
from typing import Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from pipeline import configs
from pipeline import local_runner

# The Makefile's demo: --dataset=demo_reads --run_name=demo.
DATASET = 'demo_reads'
RUN_NAME = 'demo'
EXAMPLE_GEN = configs.FASTQ_EXAMPLE_GEN
COMPONENTS = (
  EXAMPLE_GEN,
  'StatisticsGen',
  'ExperimentSchemaGen',
  'ExampleValidator',
  'DataContractCheck',
  'Transform',
  'Trainer',
  'Evaluator',
  'Pusher',
  'Designer',
)
# Everything before the Evaluator depends only on data and parameters.
CACHEABLE = COMPONENTS[:7]


def _executions(options, component) -> List[str]:
  """Executor runs of one component (cached runs do not add one)."""
  path = os.path.join(
    options.pipeline_root, component, '.system', 'executor_execution'
  )
  return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _cached_execution_count(options) -> int:
  config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
    options.metadata_path
  )
  store = metadata_store.MetadataStore(config)
  return sum(
    e.last_known_state == metadata_store_pb2.Execution.CACHED
    for e in store.get_executions()
  )


@dataclasses.dataclass
class _RunRecord:
  """What one run left behind."""

  console: str
  executions: dict
  cached: int
  blessed: Optional[bool]
  pushed: List[str]  # Serving model versions, sorted.
  latest_pushed: Optional[str]


def _run(options) -> _RunRecord:
  console = io.StringIO()
  with contextlib.redirect_stdout(console):
    local_runner.run(options)
  serving = options.serving_model_dir
  return _RunRecord(
    console=console.getvalue(),
    executions={c: len(_executions(options, c)) for c in COMPONENTS},
    cached=_cached_execution_count(options),
    blessed=local_runner.latest_blessing(options),
    pushed=sorted(os.listdir(serving)) if os.path.isdir(serving) else [],
    latest_pushed=local_runner.latest_pushed_model(options),
  )


def record_demo_runs(save_base: str) -> dict:
  """The three runs, in order, with what each left."""
  options = local_runner.RunOptions(
    save_base=save_base, dataset=DATASET, run_name=RUN_NAME
  )
  strict = dataclasses.replace(options, min_auc_true_top_1p=1.01)
  # The second run checks the cache of everything the first ran; it leaves
  # out the Designer, which would design again (the Evaluator's new
  # blessing is its input) and is judged on the first run.
  second = dataclasses.replace(options, design=False)
  return {
    'options': options,
    'first': _run(options),
    'second': _run(second),
    'strict': _run(strict),
  }
