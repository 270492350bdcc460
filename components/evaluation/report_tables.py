"""CSV and Markdown renderings of row dicts, for the fan-in reports."""

import csv
import io
from typing import Any
from typing import Dict
from typing import List


def to_csv(rows: List[Dict[str, Any]]) -> str:
  """Rows (dicts with the same keys) as CSV with a header."""
  out = io.StringIO()
  if rows:
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
  return out.getvalue()


def to_markdown(rows: List[Dict[str, Any]]) -> str:
  """Rows as a Markdown table (floats to 4 decimals, '|' escaped)."""
  if not rows:
    return '(no rows)\n'
  columns = list(rows[0])
  lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
  for row in rows:
    cells = [
      f'{v:.4f}' if isinstance(v, float) else str(v).replace('|', '/')
      for v in row.values()
    ]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
