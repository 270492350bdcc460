"""The `aptamer-tfx` command: tools around finished runs.

aptamer-tfx report <run dir> [--output report.html]
"""

import argparse
import sys

from tools import report


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='aptamer-tfx', description=__doc__)
  commands = parser.add_subparsers(dest='command', required=True)
  report_parser = commands.add_parser(
    'report', help='Render a run (<save_base>/<run_name>) as one HTML file.'
  )
  report_parser.add_argument('run_dir')
  report_parser.add_argument(
    '--output', default='', help='Default: <run_dir>/report.html.'
  )
  args = parser.parse_args(argv)
  try:
    path = report.render(args.run_dir, args.output)
  except report.ReportError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'Report written to {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
