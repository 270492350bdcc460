"""Small static SVG charts for the HTML report (no plotting dependency).

Each function returns an SVG document as a string; `data_uri` turns it into
an `<img>` source, so the report is one self-contained file.
"""

import base64
import html
import math
from typing import Dict
from typing import List
from typing import Sequence
from typing import Tuple

_W, _H = 420, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 12, 28, 40
_COLORS = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b')


def data_uri(svg: str) -> str:
  return 'data:image/svg+xml;base64,' + base64.b64encode(svg.encode()).decode()


def _range(values: Sequence[float]) -> Tuple[float, float]:
  finite = [v for v in values if math.isfinite(v)]
  if not finite:
    return 0.0, 1.0
  low, high = min(finite), max(finite)
  if low == high:
    low, high = low - 0.5, high + 0.5
  return low, high


class _Axes:
  """Maps data coordinates into the plotting area."""

  def __init__(self, x_range, y_range):
    self.x0, self.x1 = x_range
    self.y0, self.y1 = y_range

  def x(self, v):
    return _LEFT + (v - self.x0) / (self.x1 - self.x0) * (_W - _LEFT - _RIGHT)

  def y(self, v):
    return (
      _H - _BOTTOM - (v - self.y0) / (self.y1 - self.y0) * (_H - _TOP - _BOTTOM)
    )


def _frame(axes: _Axes, title: str, x_label: str, y_label: str) -> List[str]:
  parts = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
    f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="11">',
    f'<rect width="{_W}" height="{_H}" fill="white"/>',
    f'<text x="{_W / 2}" y="16" text-anchor="middle" font-size="13">'
    f'{html.escape(title)}</text>',
    f'<rect x="{_LEFT}" y="{_TOP}" width="{_W - _LEFT - _RIGHT}" '
    f'height="{_H - _TOP - _BOTTOM}" fill="none" stroke="#888"/>',
    f'<text x="{_W / 2}" y="{_H - 6}" text-anchor="middle">'
    f'{html.escape(x_label)}</text>',
    f'<text x="12" y="{_H / 2}" text-anchor="middle" '
    f'transform="rotate(-90 12 {_H / 2})">{html.escape(y_label)}</text>',
  ]
  for i in range(5):
    xv = axes.x0 + (axes.x1 - axes.x0) * i / 4
    yv = axes.y0 + (axes.y1 - axes.y0) * i / 4
    parts.append(
      f'<text x="{axes.x(xv):.1f}" y="{_H - _BOTTOM + 14}" '
      f'text-anchor="middle">{xv:.3g}</text>'
    )
    parts.append(
      f'<text x="{_LEFT - 4}" y="{axes.y(yv) + 4:.1f}" text-anchor="end">'
      f'{yv:.3g}</text>'
    )
  return parts


def _legend(names: Sequence[str]) -> List[str]:
  parts = []
  for i, name in enumerate(names):
    y = _TOP + 12 + 13 * i
    color = _COLORS[i % len(_COLORS)]
    parts.append(
      f'<rect x="{_LEFT + 8}" y="{y - 8}" width="10" height="3" fill="{color}"/>'
    )
    parts.append(
      f'<text x="{_LEFT + 22}" y="{y - 3}">{html.escape(str(name))}</text>'
    )
  return parts


def line_chart(
  series: Dict[str, Tuple[Sequence[float], Sequence[float]]],
  title: str,
  x_label: str,
  y_label: str,
  x_range=None,
  y_range=None,
) -> str:
  """Lines (name -> (xs, ys)); NaN points break nothing, they are skipped."""
  xs = [v for x, _ in series.values() for v in x]
  ys = [v for _, y in series.values() for v in y]
  axes = _Axes(x_range or _range(xs), y_range or _range(ys))
  parts = _frame(axes, title, x_label, y_label)
  for i, (x, y) in enumerate(series.values()):
    points = ' '.join(
      f'{axes.x(a):.1f},{axes.y(b):.1f}'
      for a, b in zip(x, y)
      if math.isfinite(a) and math.isfinite(b)
    )
    color = _COLORS[i % len(_COLORS)]
    parts.append(
      f'<polyline points="{points}" fill="none" stroke="{color}" '
      'stroke-width="1.8"/>'
    )
    if len(x) <= 60:  # Mark the points of short series (epochs).
      for a, b in zip(x, y):
        if math.isfinite(a) and math.isfinite(b):
          parts.append(
            f'<circle cx="{axes.x(a):.1f}" cy="{axes.y(b):.1f}" r="2.5" '
            f'fill="{color}"/>'
          )
  parts += _legend(series)
  parts.append('</svg>')
  return '\n'.join(parts)


def scatter(
  x: Sequence[float],
  y: Sequence[float],
  title: str,
  x_label: str,
  y_label: str,
  max_points: int = 3000,
) -> str:
  """A scatter plot of (x, y), thinned evenly to at most `max_points`."""
  step = max(1, len(x) // max_points)
  x, y = list(x)[::step], list(y)[::step]
  axes = _Axes(_range(x), _range(y))
  parts = _frame(axes, title, x_label, y_label)
  for a, b in zip(x, y):
    if math.isfinite(a) and math.isfinite(b):
      parts.append(
        f'<circle cx="{axes.x(a):.1f}" cy="{axes.y(b):.1f}" r="1.6" '
        f'fill="{_COLORS[0]}" fill-opacity="0.35"/>'
      )
  parts.append('</svg>')
  return '\n'.join(parts)
