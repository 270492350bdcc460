"""`aptamer-tfx report <run dir>`: one static HTML page about a run.

It gathers, from the run's ML Metadata and artifacts: the blessing and the
validation result with every threshold; a baseline comparison of the mean
rank metrics; the metric table per slice and per output; per-epoch training
curves; and, from the candidate model's predictions on the held-out split,
a ROC curve for the true top 1% and predicted-versus-observed counts per
output; whether each Trainer trained stably (its stability.json); and the
Designer's designs (tools/design_report.py). Images are
inline SVG data URIs, so the file stands alone.
"""

import dataclasses
import datetime
import glob
import html
import json
import os
from typing import Dict
from typing import List
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

from components.config import keys
from components.design import designer_component
from components.evaluation import affinity_metrics
from components.evaluation import rank_metrics
from pipeline import configs
from pipeline import local_runner
from schema import experiment as experiment_lib
from schema import identifiability
from simulation import oracle
from tools import design_report
from tools import run_artifacts
from tools import svg_plots
from tools import truth_scoring

REPORT_FILENAME = 'report.html'
MAX_PLOTTED_EXAMPLES = 20000
SUMMARY_METRICS = (
  'auc/true_top_1p',
  'auc/true_top_10p',
  'spearman_correlation/score_all',
  'pearson_correlation/score_all',
  'scaled_dcg/score_all',
  'enrichment/true_top_1p_score_top_1p',
  'count',
  'nan_predictions',
)


class ReportError(ValueError):
  """The run directory lacks what the report needs."""


@dataclasses.dataclass
class RunArtifacts:
  """Where a run's pieces are."""

  evaluation: str
  model: str
  model_run: str
  examples: str
  blessed: Optional[bool]
  designs: Optional[str] = None


def _run_options(run_dir: str) -> local_runner.RunOptions:
  return local_runner.RunOptions(
    save_base=os.path.dirname(os.path.abspath(run_dir)),
    run_name=os.path.basename(os.path.abspath(run_dir)),
  )


def find_artifacts(run_dir: str) -> RunArtifacts:
  """The latest evaluation, model, model run and evaluated examples."""
  options = _run_options(run_dir)
  if not os.path.exists(options.metadata_path):
    raise ReportError(f'{run_dir}: no metadata.db; is this a run directory?')

  def uri(type_name, producer):
    artifact = local_runner.latest_artifact(options, type_name, producer)
    return artifact.uri if artifact else None

  evaluation = uri('ModelEvaluation', 'Evaluator')
  # The model the Evaluator judged: with replicas, their mean.
  evaluated = run_artifacts.latest_input(
    options.metadata_path, configs.PIPELINE_NAME, 'Evaluator', 'model', 'Model'
  )
  model = evaluated.uri if evaluated else uri('Model', 'Trainer')
  model_run = uri('ModelRun', 'Trainer')
  if not (evaluation and model and model_run):
    raise ReportError(
      f'{run_dir}: the run has no Evaluator and Trainer outputs yet'
    )
  examples = uri('Examples', 'StructureFeatures')
  for node in configs.EXAMPLE_GEN_NODES:
    examples = examples or uri('Examples', node)
  blessed = local_runner.latest_blessing(options)
  return RunArtifacts(
    evaluation,
    os.path.join(model, 'Format-Serving'),
    model_run,
    examples,
    blessed,
    # Only the blessed model designs; older designs belong to older models.
    uri(designer_component.Designs.TYPE_NAME, 'Designer') if blessed else None,
  )


def _dataset_with_truth(run_dir: str) -> str:
  """The run's dataset directory if it is simulated, else ''."""
  try:
    dataset = truth_scoring.find_dataset(run_dir)
  except truth_scoring.TruthScoringError:
    return ''
  return (
    dataset
    if os.path.exists(os.path.join(dataset, oracle.TRUTH_MODEL_FILENAME))
    else ''
  )


def _slice_name(slice_key) -> str:
  parts = []
  for key in slice_key.single_slice_keys:
    value = (
      key.bytes_value.decode()
      if key.bytes_value
      else (key.int64_value or key.float_value)
    )
    parts.append(f'{key.column} = {value}')
  return ', '.join(parts) or 'overall'


def load_metrics(evaluation_dir: str) -> Dict:
  """slice -> (model, output, is_diff) -> metric -> value."""
  out = {}
  for metrics in tfma.load_metrics(evaluation_dir):
    per_slice = out.setdefault(_slice_name(metrics.slice_key), {})
    for item in metrics.metric_keys_and_values:
      key = item.key
      group = (key.model_name, key.output_name, key.is_diff)
      value = item.value.double_value.value
      per_slice.setdefault(group, {})[key.name] = value
  return out


def _fmt(value) -> str:
  if value is None:
    return '-'
  if isinstance(value, float):
    if np.isnan(value):
      return 'nan'
    return f'{value:,.0f}' if abs(value) >= 1000 else f'{value:.4f}'
  return html.escape(str(value))


def _table(headers: List[str], rows: List[List]) -> str:
  head = ''.join(f'<th>{html.escape(h)}</th>' for h in headers)
  body = ''.join(
    '<tr>' + ''.join(f'<td>{_fmt(v)}</td>' for v in row) + '</tr>'
    for row in rows
  )
  return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _candidate(groups: Dict) -> str:
  names = {model for model, _, _ in groups}
  return 'candidate' if 'candidate' in names else ''


def slice_table(metrics: Dict) -> str:
  rows = []
  for slice_name, groups in sorted(
    metrics.items(), key=lambda item: (item[0] != 'overall', item[0])
  ):
    mean = groups.get((_candidate(groups), '', False), {})
    rows.append([slice_name] + [mean.get(m) for m in SUMMARY_METRICS])
  return _table(['slice'] + list(SUMMARY_METRICS), rows)


def output_table(metrics: Dict) -> str:
  groups = metrics.get('overall', {})
  model = _candidate(groups)
  rows = [
    [output or 'mean'] + [values.get(m) for m in SUMMARY_METRICS]
    for (name, output, is_diff), values in sorted(groups.items())
    if name == model
    and not is_diff
    and rank_metrics.TUNER_OBJECTIVE_KEY in values
  ]
  return _table(['output'] + list(SUMMARY_METRICS), rows)


def affinity_table(metrics: Dict) -> str:
  """Each affinity output against the test split's binding evidence."""
  groups = metrics.get('overall', {})
  model = _candidate(groups)
  rows, names = [], []
  for (name, output, is_diff), values in sorted(groups.items()):
    found = sorted(k for k in values if k.startswith(affinity_metrics.PREFIX))
    if name != model or is_diff or not found:
      continue
    names = names or found
    rows.append([output] + [values.get(m) for m in names])
  if not rows:
    return (
      '<p>No affinity output has binding evidence (no sequenced selection '
      'round targets its molecule), so none was gated on it.</p>'
    )
  return _table(['affinity output'] + names, rows)


def identifiability_html(run_dir: str) -> str:
  """What the experiment design identifies, as the runner printed it."""
  dataset = truth_scoring.recorded_input_base(run_dir)
  path = os.path.join(dataset, experiment_lib.EXPERIMENT_FILENAME)
  if not dataset or not os.path.exists(path):
    return '<p>The experiment file of this run is not at hand.</p>'
  try:
    lines = identifiability.summary_lines(experiment_lib.load_experiment(path))
  except experiment_lib.ExperimentError as e:
    lines = [str(e)]
  items = ''.join(f'<li>{html.escape(line.strip())}</li>' for line in lines[1:])
  return f'<p>{html.escape(path)}:</p><ul>{items}</ul>'


def baseline_table(metrics: Dict) -> str:
  groups = metrics.get('overall', {})
  if ('baseline', '', False) not in groups:
    return (
      '<p>No baseline: this was the first model evaluated, so only the '
      'value thresholds applied.</p>'
    )
  candidate = groups.get(('candidate', '', False), {})
  baseline = groups.get(('baseline', '', False), {})
  diff = groups.get(('candidate', '', True), {})
  rows = [
    [m, candidate.get(m), baseline.get(m), diff.get(m)]
    for m in SUMMARY_METRICS
    if m in candidate
  ]
  return _table(['mean metric', 'candidate', 'baseline', 'difference'], rows)


def validation_html(evaluation_dir: str, blessed: Optional[bool]) -> str:
  result = tfma.load_validation_result(evaluation_dir)
  verdict = 'BLESSED' if blessed else 'NOT BLESSED'
  parts = [
    f'<p class="verdict">{verdict}: validation_ok = {result.validation_ok}</p>'
  ]
  failures = []
  for per_slice in result.metric_validations_per_slice:
    for failure in per_slice.failures:
      failures.append(
        [
          _slice_name(per_slice.slice_key),
          failure.metric_key.name,
          failure.metric_key.model_name,
          failure.metric_value.double_value.value,
          str(failure.metric_threshold).replace('\n', ' '),
        ]
      )
  if failures:
    parts.append(
      _table(['slice', 'metric', 'model', 'value', 'threshold'], failures)
    )
  else:
    parts.append('<p>Every threshold passed.</p>')
  return ''.join(parts)


def _read_examples(examples_dir: str, limit: int):
  # Runs made before the validation/test split held out one `eval` split.
  for split in (keys.TEST_SPLIT, 'eval'):
    files = sorted(glob.glob(os.path.join(examples_dir, f'Split-{split}', '*')))
    if files:
      break
  else:
    raise ReportError(f'{examples_dir}: no {keys.TEST_SPLIT} split')
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  return [r.numpy() for r in dataset.take(limit)]


def predictions_vs_labels(artifacts: RunArtifacts, outputs: List[str]):
  """(observed [N, T], predicted [N, T]) on the held-out split."""
  records = _read_examples(artifacts.examples, MAX_PLOTTED_EXAMPLES)
  serve = tf.saved_model.load(artifacts.model).signatures['serving_default']
  predicted = {o: [] for o in outputs}
  for start in range(0, len(records), 4096):
    out = serve(examples=tf.constant(records[start : start + 4096]))
    for o in outputs:
      predicted[o].append(out[o].numpy())
  observed = np.zeros((len(records), len(outputs)))
  for i, record in enumerate(records):
    feature = tf.train.Example.FromString(record).features.feature
    for j, o in enumerate(outputs):
      values = feature[o].int64_list.value or feature[o].float_list.value
      observed[i, j] = values[0] if values else np.nan
  return observed, np.stack(
    [np.concatenate(predicted[o]) for o in outputs], axis=1
  )


def roc_curve(labels: np.ndarray, scores: np.ndarray):
  """(fpr, tpr) points, ties in the score collapsed to one step."""
  order = np.argsort(-scores, kind='stable')
  labels, scores = labels[order], scores[order]
  distinct = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
  tps = np.cumsum(labels)[distinct]
  fps = (distinct + 1) - tps
  return (
    np.r_[0, fps / max(fps[-1], 1)],
    np.r_[0, tps / max(tps[-1], 1)],
  )


def prediction_plots(observed, predicted, outputs) -> List[str]:
  images = []
  for j, output in enumerate(outputs):
    keep = ~np.isnan(predicted[:, j]) & ~np.isnan(observed[:, j])
    y, p = observed[keep, j], predicted[keep, j]
    top = rank_metrics.top_fraction_threshold(y, 0.01)
    if 0 < top.sum() < len(top):
      fpr, tpr = roc_curve(top, p)
      auc = rank_metrics.roc_auc(top, p)
      images.append(
        svg_plots.line_chart(
          {f'AUC {auc:.3f}': (fpr, tpr), 'chance': ([0, 1], [0, 1])},
          f'ROC, true top 1%: {output}',
          'false positive rate',
          'true positive rate',
          x_range=(0, 1),
          y_range=(0, 1),
        )
      )
    images.append(
      svg_plots.scatter(
        np.log1p(np.maximum(y, 0)),
        p,
        f'Predicted vs observed: {output}',
        'log(1 + observed)',
        'predicted (normalised)',
      )
    )
  return images


def training_plots(model_run_dir: str) -> List[str]:
  images = []
  history_path = os.path.join(model_run_dir, 'history.json')
  if os.path.exists(history_path):
    with open(history_path) as f:
      history = json.load(f)
    curves = {
      name: (list(range(1, len(history[name]) + 1)), _floats(history[name]))
      for name in ('loss', 'val_loss')
      if name in history
    }
    images.append(
      svg_plots.line_chart(curves, 'Training loss per epoch', 'epoch', 'loss')
    )
  report_path = os.path.join(model_run_dir, keys.EPOCH_REPORT_FILENAME)
  if os.path.exists(report_path):
    with open(report_path) as f:
      records = [json.loads(line) for line in f if line.strip()]
    curves = {}
    for name in ('training', 'validation'):
      epochs = [r['epoch'] for r in records]
      values = _floats(
        r['tables'][name][rank_metrics.MEAN_ROW][
          rank_metrics.TUNER_OBJECTIVE_KEY
        ]
        for r in records
      )
      curves[name] = (epochs, values)
    images.append(
      svg_plots.line_chart(
        curves,
        'Mean auc/true_top_1p per epoch (0 = before training)',
        'epoch',
        'auc/true_top_1p',
      )
    )
  return images


def stability_html(model_runs: Dict[str, str]) -> str:
  """Per Trainer: 'stable', its findings, or 'not recorded' (older runs).

  Args:
    model_runs: Trainer node id -> its model_run directory.
  """
  items = []
  for node_id, model_run in model_runs.items():
    record = local_runner.read_stability(model_run)
    name = f'<b>{html.escape(node_id)}</b>'
    if record is None:
      items.append(f'<li>{name}: not recorded</li>')
      continue
    findings = record.get('findings') or []
    thresholds = ', '.join(
      f'{k} {v}' for k, v in (record.get('thresholds') or {}).items()
    )
    rule = f' (over {record.get("epochs_evaluated")} epochs; {thresholds})'
    if not findings:
      items.append(f'<li>{name}: stable{html.escape(rule)}</li>')
      continue
    messages = ''.join(
      f'<li>{html.escape(f["message"])}</li>' for f in findings
    )
    items.append(
      f'<li>{name}: <span class="unstable">UNSTABLE</span>'
      f'{html.escape(rule)}<ul>{messages}</ul></li>'
    )
  if not items:
    return '<p>No Trainer output.</p>'
  return f'<ul>{"".join(items)}</ul>'


def _floats(values):
  return [np.nan if v is None else float(v) for v in values]


_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.verdict { font-size: 18px; font-weight: bold; }
.unstable { color: #b00; font-weight: bold; }
img { margin: 4px; border: 1px solid #eee; }
"""

# Counts the images that actually decoded, for people and for the tests.
_RENDER_CHECK = """
<p id="render-check">images not checked</p>
<script>
window.addEventListener('load', function () {
  var images = document.images, ok = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) ok++;
  }
  document.getElementById('render-check').textContent =
    'images rendered: ' + ok + ' of ' + images.length;
});
</script>
"""


def render(run_dir: str, output: str = '') -> str:
  """Writes the report of `run_dir`; returns its path."""
  artifacts = find_artifacts(run_dir)
  metrics = load_metrics(artifacts.evaluation)
  outputs = sorted(
    {
      output
      for (_, output, _), values in metrics.get('overall', {}).items()
      if output and rank_metrics.TUNER_OBJECTIVE_KEY in values
    }
  )
  observed, predicted = predictions_vs_labels(artifacts, outputs)
  best_path = os.path.join(artifacts.model_run, keys.BEST_EPOCH_FILENAME)
  best = {}
  if os.path.exists(best_path):
    with open(best_path) as f:
      best = json.load(f)
  images = training_plots(artifacts.model_run) + prediction_plots(
    observed, predicted, outputs
  )
  body = [
    f'<h1>aptamer-tfx run report: {html.escape(os.path.abspath(run_dir))}</h1>',
    f'<p>Generated {datetime.datetime.now().isoformat(timespec="seconds")}; '
    f'model {html.escape(artifacts.model)}; exported epoch '
    f'{best.get("best_epoch") or "final"} of {best.get("epochs", "?")}; '
    f'{len(observed)} held-out examples plotted.</p>',
    '<h2>Model validation</h2>',
    validation_html(artifacts.evaluation, artifacts.blessed),
    '<h2>Against the baseline (latest blessed model)</h2>',
    baseline_table(metrics),
    '<h2>Metrics per slice (mean over outputs)</h2>',
    slice_table(metrics),
    '<h2>Metrics per output (overall)</h2>',
    output_table(metrics),
    '<h2>Affinities the design identifies</h2>',
    identifiability_html(run_dir),
    '<h2>Affinity against the binding evidence (test split)</h2>',
    affinity_table(metrics),
    '<h2>Designs</h2>',
    design_report.designs_html(artifacts.designs, _dataset_with_truth(run_dir)),
    '<h2>Training stability</h2>',
    stability_html(local_runner.trainer_model_runs(_run_options(run_dir))),
    '<h2>Plots</h2>',
    ''.join(
      f'<img alt="plot" src="{svg_plots.data_uri(svg)}">' for svg in images
    ),
    _RENDER_CHECK,
  ]
  page = (
    '<!DOCTYPE html><html><head><meta charset="utf-8">'
    f'<title>aptamer-tfx report</title><style>{_STYLE}</style></head>'
    f'<body>{"".join(body)}</body></html>'
  )
  path = output or os.path.join(run_dir, REPORT_FILENAME)
  with open(path, 'w') as f:
    f.write(page)
  return path
