"""Whether a run's per-epoch validation history looks unstable.

Two rules over the trained epochs (the pre-training evaluation, epoch 0,
only says how the untrained model scores, so it is never a reference):

* metric drop: the validation mean `auc/true_top_1p` is more than
  `auc_drop` below its best of the earlier epochs for at least
  `auc_epochs` evaluated epochs in a row. One epoch is not enough by
  default: on a small validation split the top 1% holds a handful of
  binders, and a converging run dips by 0.1 for a single epoch (the demo
  does, twice). The finding names every such epoch, the worst drop and
  whether the last epoch is back within `auc_drop` of the best so far.
* loss spike: a loss (validation, and the training split's when the
  epoch report scored it) is more than `loss_factor` times its lowest
  value of the earlier epochs. A loss that creeps up while the ranking
  improves (the demo's validation loss, 1.07 -> 1.35 over 10 epochs) stays
  well below 1.5x; a spike of the learning dynamics does not. The ratio
  needs a positive reference, so while the lowest earlier loss is <= 0
  (the Poisson losses can be negative) the rule does not apply.

NaN (or missing) values are skipped: they neither count as a drop nor end
a run of dropped epochs, and never become a reference.

Pure functions of a `List[EpochMetrics]`; `history_from_tables` builds it
from `EpochEvaluation.tables` or the lines of `epoch_report.jsonl`.
"""

import dataclasses
import math
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Tuple

from components.config import keys
from components.config import training as training_lib

# Written by the Trainer into its model_run directory.
STABILITY_FILENAME = keys.STABILITY_FILENAME
METRIC = 'auc/true_top_1p'
LOSS = 'loss'
VALIDATION = 'validation'
TRAINING = 'training'
MEAN_ROW = 'mean'  # rank_metrics.MEAN_ROW, without importing scipy.

METRIC_DROP = 'metric_drop'
LOSS_SPIKE = 'loss_spike'


@dataclasses.dataclass(frozen=True)
class EpochMetrics:
  """One trained epoch's mean-row metrics (NaN where not evaluated)."""

  epoch: int
  auc: float = math.nan
  loss: float = math.nan
  training_loss: float = math.nan


@dataclasses.dataclass(frozen=True)
class Finding:
  """One rule that fired, with the epochs and values it fired on.

  Attributes:
    rule: METRIC_DROP or LOSS_SPIKE.
    split: 'validation' or 'training'.
    metric: 'auc/true_top_1p' or 'loss'.
    epochs: every epoch the rule fired at.
    values: (epoch, value) at those epochs.
    worst: (epoch, value) of the largest drop or ratio.
    reference: (epoch, value) the worst was compared with: the best value
      before it (drop) or the lowest loss before it (spike).
    threshold: the rule's margin (AUC) or factor (loss).
    recovered: drop only: whether the last evaluated epoch is within the
      margin of the best so far; None for spikes.
    last: drop only: (epoch, value) of the last evaluated epoch.
  """

  rule: str
  split: str
  metric: str
  epochs: Tuple[int, ...]
  values: Tuple[Tuple[int, float], ...]
  worst: Tuple[int, float]
  reference: Tuple[int, float]
  threshold: float
  recovered: Optional[bool] = None
  last: Optional[Tuple[int, float]] = None

  @property
  def message(self) -> str:
    (worst_epoch, worst), (ref_epoch, ref) = self.worst, self.reference
    where = _epoch_ranges(self.epochs)
    if self.rule == METRIC_DROP:
      last_epoch, last = self.last
      return (
        f'{self.split} {self.metric} fell from {ref:.3f} (epoch {ref_epoch}) '
        f'to {worst:.3f} (epoch {worst_epoch}), {ref - worst:.3f} > '
        f'{self.threshold:g} below its best, at epochs {where}; '
        + (
          f'recovered by epoch {last_epoch} ({last:.3f})'
          if self.recovered
          else f'not recovered by epoch {last_epoch} ({last:.3f})'
        )
      )
    return (
      f'{self.split} loss spiked to {worst:.3f} at epoch {worst_epoch}, '
      f'{worst / ref:.2f}x its lowest earlier value {ref:.3f} (epoch '
      f'{ref_epoch}) > {self.threshold:g}x, at epochs {where}'
    )

  def as_dict(self) -> Dict[str, Any]:
    return {
      'rule': self.rule,
      'split': self.split,
      'metric': self.metric,
      'epochs': list(self.epochs),
      'values': [list(v) for v in self.values],
      'worst': list(self.worst),
      'reference': list(self.reference),
      'threshold': self.threshold,
      'recovered': self.recovered,
      'last': list(self.last) if self.last else None,
      'message': self.message,
    }


def _finite(value) -> bool:
  return value is not None and not math.isnan(value)


def _number(value) -> float:
  return math.nan if value is None else float(value)


def _epoch_ranges(epochs: Iterable[int]) -> str:
  """'7-9, 27-29' for (7, 8, 9, 27, 28, 29)."""
  ranges: List[List[int]] = []
  for epoch in epochs:
    if ranges and epoch == ranges[-1][1] + 1:
      ranges[-1][1] = epoch
    else:
      ranges.append([epoch, epoch])
  return ', '.join(str(a) if a == b else f'{a}-{b}' for a, b in ranges)


def history_from_tables(records: Iterable[Dict]) -> List[EpochMetrics]:
  """The trained epochs of an epoch report, as the rules read them.

  Args:
    records: `EpochEvaluation.tables`, or the parsed lines of
      `epoch_report.jsonl`: {'epoch': n, 'tables': {split: {row: {metric:
      value}}}}, with None or NaN where undefined; epoch 0 (before
      training) is left out.
  """
  history = []
  for record in records:
    if record['epoch'] < 1:
      continue
    tables = record['tables']
    validation = tables.get(VALIDATION, {}).get(MEAN_ROW, {})
    training = tables.get(TRAINING, {}).get(MEAN_ROW, {})
    history.append(
      EpochMetrics(
        epoch=int(record['epoch']),
        auc=_number(validation.get(METRIC)),
        loss=_number(validation.get(LOSS)),
        training_loss=_number(training.get(LOSS)),
      )
    )
  return history


@dataclasses.dataclass(frozen=True)
class _DropState:
  epoch: int
  value: float
  best: Tuple[int, float]  # Best of the earlier epochs.
  below: bool  # More than the margin below it.
  run: int  # Evaluated epochs in a row below, this one included.


def _drop_states(
  history: List[EpochMetrics], margin: float
) -> List[_DropState]:
  states = []
  best: Optional[Tuple[int, float]] = None
  run = 0
  for row in history:
    if not _finite(row.auc):
      continue
    below = best is not None and best[1] - row.auc > margin
    run = run + 1 if below else 0
    states.append(_DropState(row.epoch, row.auc, best, below, run))
    if best is None or row.auc > best[1]:
      best = (row.epoch, row.auc)
  return states


def _flagged_drops(
  states: List[_DropState], min_epochs: int
) -> List[_DropState]:
  """The states in runs of at least `min_epochs` dropped epochs."""
  flagged = []
  for i, state in enumerate(states):
    if not state.below:
      continue
    # The run this epoch belongs to ends where the next epoch is not below.
    end = i
    while end + 1 < len(states) and states[end + 1].below:
      end += 1
    if states[end].run >= min_epochs:
      flagged.append(state)
  return flagged


def metric_drop(
  history: List[EpochMetrics], margin: float, min_epochs: int
) -> List[Finding]:
  """Rule (a): [] or one finding over every sustained drop."""
  states = _drop_states(history, margin)
  flagged = _flagged_drops(states, min_epochs)
  if not flagged:
    return []
  worst = max(flagged, key=lambda s: s.best[1] - s.value)
  last = states[-1]
  return [
    Finding(
      rule=METRIC_DROP,
      split=VALIDATION,
      metric=METRIC,
      epochs=tuple(s.epoch for s in flagged),
      values=tuple((s.epoch, s.value) for s in flagged),
      worst=(worst.epoch, worst.value),
      reference=worst.best,
      threshold=margin,
      recovered=not last.below,
      last=(last.epoch, last.value),
    )
  ]


def _spikes(
  losses: List[Tuple[int, float]], factor: float
) -> List[Tuple[int, float, Tuple[int, float]]]:
  """(epoch, loss, lowest earlier (epoch, loss)) of each spiking epoch."""
  spikes = []
  lowest: Optional[Tuple[int, float]] = None
  for epoch, loss in losses:
    if not _finite(loss):
      continue
    if lowest is not None and lowest[1] > 0 and loss > factor * lowest[1]:
      spikes.append((epoch, loss, lowest))
    if lowest is None or loss < lowest[1]:
      lowest = (epoch, loss)
  return spikes


def loss_spike(
  history: List[EpochMetrics], factor: float, split: str = VALIDATION
) -> List[Finding]:
  """Rule (b) on one split's loss: [] or one finding over every spike."""
  pick = (
    (lambda r: r.loss) if split == VALIDATION else (lambda r: r.training_loss)
  )
  spikes = _spikes([(r.epoch, pick(r)) for r in history], factor)
  if not spikes:
    return []
  worst = max(spikes, key=lambda s: s[1] / s[2][1])
  return [
    Finding(
      rule=LOSS_SPIKE,
      split=split,
      metric=LOSS,
      epochs=tuple(s[0] for s in spikes),
      values=tuple((s[0], s[1]) for s in spikes),
      worst=(worst[0], worst[1]),
      reference=worst[2],
      threshold=factor,
    )
  ]


def check(
  history: List[EpochMetrics], thresholds: training_lib.StabilityThresholds
) -> List[Finding]:
  """Every finding of both rules (validation and training loss)."""
  return (
    metric_drop(history, thresholds.auc_drop, thresholds.auc_epochs)
    + loss_spike(history, thresholds.loss_factor, VALIDATION)
    + loss_spike(history, thresholds.loss_factor, TRAINING)
  )


def alerts_at(
  history: List[EpochMetrics],
  thresholds: training_lib.StabilityThresholds,
  epoch: int,
) -> List[str]:
  """What the rules say about `epoch` as soon as it is evaluated.

  Only the history up to `epoch` is read, so a drop is announced at the
  epoch its run reaches `auc_epochs`, and at every later epoch it lasts.
  """
  history = [r for r in history if r.epoch <= epoch]
  lines = []
  states = _drop_states(history, thresholds.auc_drop)
  now = states[-1] if states and states[-1].epoch == epoch else None
  if now and now.run >= thresholds.auc_epochs:
    best_epoch, best = now.best
    lines.append(
      f'validation {METRIC} {now.value:.3f} is {best - now.value:.3f} below '
      f'its best {best:.3f} (epoch {best_epoch}) for {now.run} epochs '
      f'(margin {thresholds.auc_drop:g})'
    )
  for split, pick in (
    (VALIDATION, lambda r: r.loss),
    (TRAINING, lambda r: r.training_loss),
  ):
    for at, loss, (low_epoch, low) in _spikes(
      [(r.epoch, pick(r)) for r in history], thresholds.loss_factor
    ):
      if at == epoch:
        lines.append(
          f'{split} loss {loss:.3f} is {loss / low:.2f}x its lowest earlier '
          f'value {low:.3f} (epoch {low_epoch}) (limit '
          f'{thresholds.loss_factor:g}x)'
        )
  return [f'epoch {epoch}: UNSTABLE: {line}' for line in lines]


def stability_record(
  records: Iterable[Dict], thresholds: training_lib.StabilityThresholds
) -> Dict[str, Any]:
  """The content of stability.json for an epoch report's records."""
  history = history_from_tables(records)
  findings = check(history, thresholds)
  return {
    'stable': not findings,
    'epochs_evaluated': len(history),
    'thresholds': thresholds.as_dict(),
    'findings': [f.as_dict() for f in findings],
  }


def warning_lines(record: Dict[str, Any], path: str = '') -> List[str]:
  """The loud console block for an unstable record ([] if stable)."""
  findings = record.get('findings') or []
  if not findings:
    return []
  lines = [
    f'WARNING: training was unstable ({len(findings)} finding'
    f'{"s" if len(findings) > 1 else ""}):'
  ]
  lines += [f'  - {f["message"]}' for f in findings]
  lines.append(
    '  The exported epoch may be a lucky one; try a lower --learn_rate.'
  )
  if path:
    lines.append(f'  Details: {path}')
  return lines


def headline(record: Optional[Dict[str, Any]]) -> str:
  """'stable', 'UNSTABLE: ...' or 'not recorded' for a stability record."""
  if record is None:
    return 'not recorded'
  findings = record.get('findings') or []
  if not findings:
    return 'stable'
  return 'UNSTABLE: ' + '; '.join(f['message'] for f in findings)


def summary_line(node_id: str, record: Dict[str, Any], path: str) -> str:
  """The end-of-run console line of one unstable Trainer."""
  findings = record.get('findings') or []
  kinds = '; '.join(
    f'{f["split"]} {f["metric"]} '
    f'{"drop" if f["rule"] == METRIC_DROP else "spike"} at epochs '
    f'{_epoch_ranges(f["epochs"])}'
    for f in findings
  )
  return f'  {"UNSTABLE training:":<20}{node_id}: {kinds} (see {path})'
