"""Model quality against simulated truth, on every experiment-design scenario.

For each scenario of `simulation.scenarios` (or those named with
`--scenarios`), simulates the dataset, runs the whole pipeline with the
default configuration (`python -m pipeline.local_runner --input_dir=...`, a
subprocess, as a user runs it), and records:

  * the blessing, and the failed gates when not blessed;
  * the count-derived affinity metrics the Evaluator computed on the test
    split (`affinity/auc_hits_strictest`, `affinity/spearman_enrichment`)
    and the mean count metric `auc/true_top_1p`;
  * the served affinity's truth scores (`tools.truth_scoring.score_run`):
    ROC-AUC for the true top 1% and Spearman on the test split, on unseen
    random sequences and on unseen point mutants of the top binders, each
    against the truth of the molecule its latent carries;
  * with `--num_replicas N > 1`, the spread of the truth AUC over the
    replicas, each alone, on the test split and the unseen random
    sequences (`--num_replicas` of the runner); the scores above are then
    those of the replicas' mean, the model the Evaluator judged and the
    Pusher served (ReplicaMean);
  * for a blessed model, its designs against the truth
    (`tools.design_truth.judge`): the fraction of the Designer's designs,
    of random mutants of the same seeds at the same distances, and of the
    oracle walker's designs that beat their seed and that land in the
    library's true top 0.1 %; the oracle efficiency and the ratio to
    random (the paper: 11x).

Scores come from the Trainer's exported model, so a run that is not
blessed is still measured. Chance is 0.5 AUC and 0 Spearman; a predictor
that knew the truth would score 1.0 on every set. Each truth score has its
ceiling beside it: the same score of the truth without its per-sequence
noise term, which no model of the sequence can learn
(`tools.truth_scoring`). `--ceilings_only` simulates the scenarios and
prints only the ceilings on their unseen sequences, without training.

Usage: python benchmarks/model_quality.py [--scenarios demo,selex]
  [--work_dir DIR] [--json PATH] [--num_replicas N] [--ceilings_only]
  [--override FIELD=VALUE ...] [--runner_flag=--FLAG=VALUE ...]
"""

import argparse
import dataclasses
import glob
import json
import os
import subprocess
import sys
import time
from typing import Dict
from typing import List
from typing import Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import tensorflow as tf  # noqa: E402
import tensorflow_model_analysis as tfma  # noqa: E402

from components.design import designer_component  # noqa: E402
from components.evaluation import affinity_metrics  # noqa: E402
from components.evaluation import validation_messages  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import local_runner  # noqa: E402
from schema import experiment as experiment_lib  # noqa: E402
from schema import identifiability  # noqa: E402
import simulation  # noqa: E402
from simulation import scenarios as scenarios_lib  # noqa: E402
from tools import design_truth  # noqa: E402
from tools import run_artifacts  # noqa: E402
from tools import truth_scoring  # noqa: E402


@dataclasses.dataclass
class Row:
  """One scenario's measurements."""

  scenario: str
  examples: int
  minutes: float
  blessed: bool
  failed: List[str]
  count_auc: float
  evidence: Dict[str, Dict[str, float]]
  truth: List[Dict]
  # Per replica: `_replica_key(output, truth, sequence set)` -> truth AUC.
  replica_aucs: List[Dict]
  design: Optional[Dict] = None


def _label(name: str, overrides: Dict[str, float]) -> str:
  """The scenario's name in the tables and directories, with overrides."""
  return name + ''.join(f',{k}={v:g}' for k, v in sorted(overrides.items()))


def _simulate(name: str, directory: str, overrides: Dict[str, float]) -> int:
  if not os.path.exists(os.path.join(directory, 'experiment.pbtxt')):
    result = simulation.simulate(scenarios_lib.configure(name, **overrides))
    simulation.write_dataset(result, directory)
  files = sorted(glob.glob(os.path.join(directory, '*.tfrecord.gz')))
  return sum(1 for _ in tf.data.TFRecordDataset(files, 'GZIP'))


def _run_name(label: str, replicas: int, runner_flags: List[str]) -> str:
  """The run's name: the scenario's label, replicas, then any runner flags.

  A configuration of its own gets a run of its own: in a shared run the
  earlier blessed model would be the Evaluator's baseline.
  """
  suffix = f',replicas={replicas}' if replicas > 1 else ''
  suffix += ''.join(f',{f.lstrip("-")}' for f in runner_flags)
  # No path separator, and no glob character (the runner refuses those).
  return (label + suffix).translate({ord(c): '_' for c in '/*?[]{}'})


def _run_pipeline(
  data: str,
  save_base: str,
  name: str,
  replicas: int,
  runner_flags: List[str],
):
  command = [
    sys.executable,
    '-m',
    'pipeline.local_runner',
    f'--input_dir={data}',
    f'--save_base={save_base}',
    f'--run_name={name}',
    f'--num_replicas={replicas}',
    *runner_flags,
  ]
  log = os.path.join(save_base, f'{name}.console.txt')
  os.makedirs(save_base, exist_ok=True)
  with open(log, 'w') as out:
    status = subprocess.call(command, cwd=REPO, stdout=out, stderr=out)
  if status:
    raise RuntimeError(f'{" ".join(command)} failed ({status}); see {log}')


def _evaluator_metrics(evaluation_uri: str):
  """(mean count auc/true_top_1p, {affinity output: {metric: value}})."""
  count_auc, evidence = float('nan'), {}
  for metrics in tfma.load_metrics(evaluation_uri):
    if metrics.slice_key.single_slice_keys:
      continue
    for kv in metrics.metric_keys_and_values:
      key, value = kv.key, kv.value.double_value.value
      if key.is_diff:  # A change against a blessed baseline, not a value.
        continue
      if key.name == 'auc/true_top_1p' and not key.output_name:
        count_auc = value
      if key.name in (
        affinity_metrics.HEADLINE_AUC,
        affinity_metrics.SPEARMAN_ENRICHMENT,
      ):
        evidence.setdefault(key.output_name, {})[key.name] = value
  return count_auc, evidence


def _trainer_models(options) -> List[str]:
  """Format-Serving dirs of every Trainer (replica) of the latest run."""
  models = []
  for node in ['Trainer'] + [
    f'Trainer_{k:02d}' for k in range(1, options.num_replicas)
  ]:
    artifact = run_artifacts.latest_output(
      options.metadata_path, configs.PIPELINE_NAME, node, type_name='Model'
    )
    models.append(os.path.join(artifact.uri, 'Format-Serving'))
  return models


def measure(
  name: str,
  work_dir: str,
  replicas: int,
  overrides: Optional[Dict[str, float]] = None,
  runner_flags: Optional[List[str]] = None,
) -> Row:
  overrides = overrides or {}
  runner_flags = list(runner_flags or [])
  label = _label(name, overrides)
  data = os.path.join(work_dir, 'data', label)
  examples = _simulate(name, data, overrides)
  save_base = os.path.join(work_dir, 'runs')
  run_name = _run_name(label, replicas, runner_flags)
  start = time.monotonic()
  _run_pipeline(data, save_base, run_name, replicas, runner_flags)
  minutes = (time.monotonic() - start) / 60
  options = local_runner.RunOptions(
    save_base=save_base, run_name=run_name, num_replicas=replicas
  )
  evaluation = local_runner.latest_artifact(
    options, 'ModelEvaluation', 'Evaluator'
  )
  count_auc, evidence = _evaluator_metrics(evaluation.uri)
  models = _trainer_models(options)
  # The model the Evaluator judged: the replicas' mean when there are
  # several (ReplicaMean), else the Trainer's.
  evaluated = run_artifacts.latest_input(
    options.metadata_path, configs.PIPELINE_NAME, 'Evaluator', 'model', 'Model'
  )
  scores = truth_scoring.score_run(
    options.run_dir,
    unseen=True,
    dataset_dir=data,
    model_dir=os.path.join(evaluated.uri, 'Format-Serving'),
  )
  replica_aucs = []
  # Each replica alone, for the spread the replica mean smooths out.
  for model in models if len(models) > 1 else []:
    replica = truth_scoring.score_run(
      options.run_dir, unseen=True, dataset_dir=data, model_dir=model
    )
    replica_aucs.append(
      {
        _replica_key(s.output, s.truth, s.sequence_set): s.auc_true_top_1p
        for s in replica.scores
      }
    )
  blessed = bool(local_runner.latest_blessing(options))
  designs = blessed and local_runner.latest_artifact(
    options, designer_component.Designs.TYPE_NAME, 'Designer'
  )
  design = None
  if designs:
    print('  judging the designs (oracle walk)', flush=True)
    design = design_truth.judge(designs.uri, data).as_dict()
  return Row(
    scenario=run_name,
    examples=examples,
    minutes=round(minutes, 1),
    blessed=blessed,
    failed=validation_messages.evaluation_failures(evaluation.uri),
    count_auc=count_auc,
    evidence=evidence,
    truth=[s.as_dict() for s in scores.scores],
    replica_aucs=replica_aucs,
    design=design,
  )


def _fmt(value) -> str:
  return 'n/a' if value is None or value != value else f'{value:.3f}'


def _replica_key(output: str, truth: str, sequence_set: str) -> str:
  return f'{output} vs {truth} on {sequence_set}'


def _spread(values: List[float]) -> str:
  """Sample standard deviation (ddof 1) of the replicas' AUCs."""
  mean = sum(values) / len(values)
  var = sum((a - mean) ** 2 for a in values) / (len(values) - 1)
  return f'{var**0.5:.3f}'


def markdown(rows: List[Row]) -> str:
  """The RESULTS.md table: one line per scenario and served affinity."""
  lines = [
    '| scenario | served affinity (truth) | test AUC / Spearman | unseen '
    'random AUC / Spearman | unseen mutants AUC / Spearman | evidence '
    'auc_hits_strictest / spearman_enrichment | count auc/true_top_1p | '
    'replica SD of test / unseen random AUC | blessed |',
    '|---|---|---|---|---|---|---|---|---|',
  ]
  for row in rows:
    by_output = {}
    for score in row.truth:
      if score['truth'] != truth_scoring.truths_of(score['molecule'])[-1]:
        continue
      by_output.setdefault((score['output'], score['truth']), {})[
        score['sequence_set']
      ] = score
    for (output, truth), sets in sorted(by_output.items()):

      def pair(name, sets=sets):
        s = sets.get(name)
        if not s:
          return 'n/a'
        ceiling = ''
        if s.get('ceiling_auc') is not None:
          ceiling = (
            f' ({_fmt(s["ceiling_auc"])} / {_fmt(s["ceiling_spearman"])})'
          )
        return f'{_fmt(s["auc_true_top_1p"])} / {_fmt(s["spearman"])}{ceiling}'

      evidence = row.evidence.get(output, {})
      spread = 'n/a'
      if len(row.replica_aucs) > 1:
        spread = (
          ' / '.join(
            _spread(
              [r[_replica_key(output, truth, name)] for r in row.replica_aucs]
            )
            for name in (truth_scoring.HELD_OUT, truth_scoring.UNSEEN_RANDOM)
          )
          + f' (n={len(row.replica_aucs)})'
        )
      blessed = 'yes' if row.blessed else 'no: ' + '; '.join(row.failed)
      lines.append(
        f'| `{row.scenario}` | `{output}` ({truth}) | '
        f'{pair(truth_scoring.HELD_OUT)} | {pair(truth_scoring.UNSEEN_RANDOM)} '
        f'| {pair(truth_scoring.UNSEEN_MUTANTS)} | '
        f'{_fmt(evidence.get(affinity_metrics.HEADLINE_AUC))} / '
        f'{_fmt(evidence.get(affinity_metrics.SPEARMAN_ENRICHMENT))} | '
        f'{_fmt(row.count_auc)} | {spread} | {blessed} |'
      )
  return '\n'.join(lines)


def ceilings(name: str, work_dir: str) -> List[Dict]:
  """The ceilings on a scenario's unseen sets, without training a model.

  Returns:
    One dict per served truth (the scenario's identifiable affinities) and
    unseen set: scenario, truth, sequence_set, ceiling_auc,
    ceiling_spearman.
  """
  data = os.path.join(work_dir, 'data', name)
  _simulate(name, data, {})
  molecules = identifiability.primary_molecules(
    experiment_lib.load_experiment(os.path.join(data, 'experiment.pbtxt'))
  )
  truths = [truth_scoring.truths_of(m)[-1] for m in molecules]
  return [
    dict(
      scenario=name,
      truth=truth,
      sequence_set=set_name,
      ceiling_auc=auc,
      ceiling_spearman=spearman,
    )
    for truth, set_name, auc, spearman in truth_scoring.unseen_ceilings(
      data, truths
    )
  ]


def ceilings_markdown(rows: List[Dict]) -> str:
  """The RESULTS.md ceiling table: one line per scenario and truth."""
  lines = [
    '| scenario | truth | unseen random AUC / Spearman | unseen mutants '
    'AUC / Spearman |',
    '|---|---|---|---|',
  ]
  by_key = {}
  for row in rows:
    by_key.setdefault((row['scenario'], row['truth']), {})[
      row['sequence_set']
    ] = row
  for (scenario, truth), sets in by_key.items():
    cells = [
      f'{_fmt(sets[n]["ceiling_auc"])} / {_fmt(sets[n]["ceiling_spearman"])}'
      for n in (truth_scoring.UNSEEN_RANDOM, truth_scoring.UNSEEN_MUTANTS)
    ]
    lines.append(f'| `{scenario}` | {truth} | {cells[0]} | {cells[1]} |')
  return '\n'.join(lines)


def _ratio(ratio: Optional[float], model_top: float) -> str:
  if ratio is None:
    return 'inf (random 0)' if model_top > 0 else 'n/a'
  return f'{ratio:.1f}x'


def design_markdown(rows: List[Row]) -> str:
  """The RESULTS.md design table: one line per scenario and walker."""
  lines = [
    '| scenario | designed by | walker | designs | beat their seed | in true '
    'top 0.1 % | median true gain | oracle efficiency (landscape oracle) '
    '| model / random |',
    '|---|---|---|---|---|---|---|---|---|',
  ]
  for row in rows:
    if not row.design:
      why = 'no designs' if row.blessed else 'not blessed: no designs'
      lines.append(f'| `{row.scenario}` | {why} | | | | | | | |')
      continue
    d = row.design
    ratio = d['ratio_to_random']
    for walker in design_truth.WALKERS:
      r = d['rates'][walker]
      headline = walker == 'model'
      lines.append(
        f'| `{row.scenario}` | `affinity_{d["affinity"]}` | {walker} | '
        f'{r["num_designs"]} | {r["improved"]:.1%} | {r["top"]:.2%} | '
        f'{r["median_gain"]:+.3f} | '
        + (
          f'{_fmt(d["oracle_efficiency"])} ({_fmt(d["landscape_efficiency"])})'
          if headline
          else ''
        )
        + ' | '
        + (_ratio(ratio, r['top']) if headline else '')
        + ' |'
      )
  return '\n'.join(lines)


def _overrides(values: List[str]) -> Dict[str, float]:
  """FIELD=VALUE strings as numbers (int where the value is one)."""
  out = {}
  for value in values:
    field, sep, number = value.partition('=')
    if not sep:
      raise SystemExit(f'--override {value!r}: expected FIELD=VALUE')
    try:
      out[field] = int(number)
    except ValueError:
      try:
        out[field] = float(number)
      except ValueError:
        raise SystemExit(
          f'--override {value!r}: {number!r} is not a number'
        ) from None
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--scenarios',
    default=','.join(scenarios_lib.SCENARIOS),
    help='comma-separated scenario names (default: all)',
  )
  parser.add_argument('--work_dir', default='/tmp/aptamer_model_quality')
  parser.add_argument('--json', default='')
  parser.add_argument('--num_replicas', type=int, default=1)
  parser.add_argument(
    '--override',
    action='append',
    default=[],
    metavar='FIELD=VALUE',
    help='a SimulationConfig number for every scenario, e.g. depth=600000 '
    '(repeatable; the tables name the scenario with its overrides)',
  )
  parser.add_argument(
    '--runner_flag',
    action='append',
    default=[],
    metavar='--FLAG=VALUE',
    help='a flag passed to every pipeline run, e.g. --kmer_k_max=6 '
    '(repeatable; the tables name the scenario with its flags)',
  )
  parser.add_argument(
    '--ceilings_only',
    action='store_true',
    help='only the noise-free ceilings on the unseen sets, no training',
  )
  args = parser.parse_args()
  if args.ceilings_only:
    found = []
    for name in filter(None, args.scenarios.split(',')):
      print(f'scenario {name}: simulating, ceilings', flush=True)
      found += ceilings(name, args.work_dir)
    print(ceilings_markdown(found))
    if args.json:
      with open(args.json, 'w') as f:
        json.dump(found, f, indent=1)
    return
  rows = []
  for name in filter(None, args.scenarios.split(',')):
    print(f'scenario {name}: simulating and running the pipeline', flush=True)
    row = measure(
      name,
      args.work_dir,
      args.num_replicas,
      _overrides(args.override),
      args.runner_flag,
    )
    print(
      f'  {row.examples} examples, {row.minutes} min, blessed {row.blessed}',
      flush=True,
    )
    rows.append(row)
  print(markdown(rows))
  print()
  print(design_markdown(rows))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump([dataclasses.asdict(r) for r in rows], f, indent=1)


if __name__ == '__main__':
  main()
