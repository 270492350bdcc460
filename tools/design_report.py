"""The run report's design section: what the Designer made of the model.

Seeds against designs by predicted affinity (per seed source, and each
design against its own seed), the Hamming distances walked, the best
designs, and, on a simulated dataset, the designs against the truth
(`tools/design_truth.py`).
"""

import html
import json
import os
from typing import List
from typing import Optional

import pandas as pd

from components.design import designer
from tools import design_truth
from tools import svg_plots

TOP_DESIGNS_SHOWN = 10


def _table(headers: List[str], rows: List[List]) -> str:
  head = ''.join(f'<th>{html.escape(str(h))}</th>' for h in headers)
  body = ''.join(
    '<tr>' + ''.join(f'<td>{html.escape(str(c))}</td>' for c in row) + '</tr>'
    for row in rows
  )
  return f'<table><tr>{head}</tr>{body}</table>'


def _number(value) -> str:
  return f'{value:.3f}' if isinstance(value, float) else str(value)


def _source_rows(summary: dict) -> List[List]:
  rows = []
  for source, parts in summary['predicted_by_source'].items():
    for what in ('seeds', 'designs'):
      stats = parts[what]
      rows.append(
        [source, what, stats.get('count', 0)]
        + [
          _number(stats.get(k, float('nan'))) for k in ('median', 'mean', 'max')
        ]
      )
  return rows


def designs_html(designs_dir: Optional[str], dataset_dir: str = '') -> str:
  """The section's HTML ('' content note when nothing was designed)."""
  if not designs_dir:
    return '<p>No designs: the Designer runs only for a blessed model.</p>'
  skipped = os.path.join(designs_dir, designer.SKIPPED_FILE)
  if os.path.exists(skipped):
    with open(skipped) as f:
      return f'<p>No designs: {html.escape(f.read().strip())}.</p>'
  with open(os.path.join(designs_dir, designer.SUMMARY_JSON)) as f:
    summary = json.load(f)
  column = f'{designer.AFFINITY_PREFIX}{summary["affinity"]}_mean'
  table = pd.read_csv(os.path.join(designs_dir, designer.DESIGNS_CSV))
  seeds = pd.read_csv(os.path.join(designs_dir, designer.SEEDS_CSV))
  parts = [
    f'<p>{summary["num_designs"]} designs from {summary["num_seeds"]} seeds, '
    f'walked by affinity_{html.escape(summary["affinity"])} '
    f'({html.escape(summary["config"]["walker"])} walker); files in '
    f'{html.escape(designs_dir)} (designs.csv, designs.fasta, '
    'microarray.csv). Predicted affinity: the mean over replicas.</p>',
    _table(
      ['seed source', '', 'count', 'median', 'mean', 'max'],
      _source_rows(summary),
    ),
  ]
  std_column = column[: -len('_mean')] + '_std'
  shown = table.head(TOP_DESIGNS_SHOWN)
  parts.append(
    _table(
      ['design', 'seed source', 'distance to seed', 'predicted', 'std'],
      [
        [
          r['sequence'],
          r['seed_source'],
          r['distance_to_seed'],
          _number(float(r[column])),
          _number(float(r[std_column])),
        ]
        for _, r in shown.iterrows()
      ],
    )
  )
  images = []
  seed_score = dict(zip(seeds['sequence'], seeds[column]))
  if len(table):
    images.append(
      svg_plots.scatter(
        [seed_score[s] for s in table['seed']],
        list(table[column]),
        'Designs against their seeds',
        'seed: predicted affinity',
        'design: predicted affinity',
      )
    )
    histogram = summary['distance_to_seed_histogram']
    distances = sorted(int(k) for k in histogram)
    images.append(
      svg_plots.line_chart(
        {
          'designs': (
            distances,
            [histogram[str(d)] for d in distances],
          )
        },
        'Hamming distance to the seed',
        'substitutions',
        'designs',
      )
    )
  parts.append(
    ''.join(
      f'<img alt="plot" src="{svg_plots.data_uri(svg)}">' for svg in images
    )
  )
  if dataset_dir:
    try:
      result = design_truth.judge(designs_dir, dataset_dir)
    except design_truth.DesignTruthError:
      result = None
    if result is not None:
      parts.append(
        "<p>Against the simulator's truth:</p><pre>"
        + html.escape('\n'.join(design_truth.format_lines(result)))
        + '</pre>'
      )
  return ''.join(parts)
