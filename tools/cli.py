"""The `aptamer-tfx` command: tools around finished runs.

aptamer-tfx report <run dir> [--output report.html]
aptamer-tfx truth-score <run dir> [--unseen] [--dataset_dir DIR]
    [--model_dir DIR] [--json PATH]
aptamer-tfx score --model DIR [--model DIR2 ...] --input FILE --output FILE
    [--batch_size N] [--run_dir RUN] [--sequence_length L]
"""

import argparse
import sys

from tools import report
from tools import score_command
from tools import truth_scoring


def _add_truth_score(commands) -> None:
  parser = commands.add_parser(
    'truth-score',
    help=(
      "Score a run's served latent affinities against a simulated "
      "dataset's ground truth."
    ),
  )
  parser.add_argument('run_dir')
  parser.add_argument(
    '--unseen',
    action='store_true',
    help=(
      f"Also score the dataset's {truth_scoring.UNSEEN_FILENAME}: random "
      'sequences and mutants (per Hamming distance too).'
    ),
  )
  parser.add_argument(
    '--dataset_dir',
    default='',
    help="Default: the run's ExampleGen input_base (from metadata.db).",
  )
  parser.add_argument(
    '--model_dir',
    default='',
    help=(
      'A SavedModel or a Trainer model (its Format-Serving directory). '
      'Default: the newest model in <run_dir>/serving_model/.'
    ),
  )
  parser.add_argument(
    '--json', default='', help='Also write the scores to this JSON file.'
  )


def _truth_score(args) -> int:
  result = truth_scoring.score_run(
    args.run_dir,
    unseen=args.unseen,
    dataset_dir=args.dataset_dir,
    model_dir=args.model_dir,
  )
  print(truth_scoring.format_table(result))
  if args.json:
    truth_scoring.write_json(result, args.json)
    print(f'Scores written to {args.json}')
  return 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
    prog='aptamer-tfx',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  commands = parser.add_subparsers(dest='command', required=True)
  report_parser = commands.add_parser(
    'report', help='Render a run (<save_base>/<run_name>) as one HTML file.'
  )
  report_parser.add_argument('run_dir')
  report_parser.add_argument(
    '--output', default='', help='Default: <run_dir>/report.html.'
  )
  _add_truth_score(commands)
  score_command.add_parser(commands)
  args = parser.parse_args(argv)
  try:
    if args.command == 'truth-score':
      return _truth_score(args)
    if args.command == 'score':
      return score_command.run(args)
    path = report.render(args.run_dir, args.output)
  except (
    report.ReportError,
    truth_scoring.TruthScoringError,
    *score_command.ERRORS,
  ) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'Report written to {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
