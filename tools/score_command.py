"""`aptamer-tfx score`: scores a sequence file with trained replica models.

aptamer-tfx score --model DIR [--model DIR2 ...] --input FILE --output FILE
    [--batch_size N] [--run_dir RUN] [--sequence_length L]

Each --model is one replica (a pushed SavedModel or a Trainer model); the
output table (CSV or Parquet, by extension) has the columns of
`components.design.scoring.SequenceScorer`.
"""

import argparse
import os
from typing import Optional

from components.design import scoring
from components.design import sequence_io
from tools import truth_scoring

# What `main` turns into `error: <message>` and exit code 2.
ERRORS = (sequence_io.SequenceFileError, scoring.ScoringError)


def add_parser(commands) -> None:
  """Adds the `score` subcommand to an argparse subparsers object."""
  parser = commands.add_parser(
    'score',
    help='Score a sequence file (FASTA, text or CSV) with trained models.',
  )
  parser.add_argument(
    '--model',
    action='append',
    required=True,
    help=(
      'A SavedModel or a Trainer model (its Format-Serving directory); '
      'repeat for replicas (scores are their mean and std).'
    ),
  )
  parser.add_argument(
    '--input',
    required=True,
    help='.fa/.fasta/.fna, .txt/.seq or .csv (a sequence column), or .gz.',
  )
  parser.add_argument(
    '--output', required=True, help='.csv, .csv.gz or .parquet.'
  )
  parser.add_argument(
    '--batch_size',
    type=int,
    default=scoring.BATCH_SIZE,
    help='Sequences per model call.',
  )
  parser.add_argument(
    '--run_dir',
    default='',
    help=(
      "Fold as this run's StructureFeatures did (models with structure "
      "inputs). Default: StructureFeatures' defaults."
    ),
  )
  parser.add_argument(
    '--sequence_length',
    type=int,
    default=None,
    help='Reject sequences of any other length.',
  )


def _folding_parameters(run_dir: str):
  if not run_dir:
    return None
  if not os.path.isdir(run_dir):
    raise scoring.ScoringError(f'--run_dir={run_dir}: no such run directory')
  # The run's dataset holds the primers, if the run folded with them.
  dataset_dir = truth_scoring.recorded_input_base(run_dir)
  return truth_scoring.folding_parameters(run_dir, dataset_dir)


def run(args: argparse.Namespace) -> int:
  """Scores `args.input` into `args.output`; prints a short summary."""
  if args.batch_size < 1:
    raise scoring.ScoringError(
      f'--batch_size must be positive, got {args.batch_size}'
    )
  parameters: Optional[object] = _folding_parameters(args.run_dir)
  summary = scoring.score_file(
    args.model,
    args.input,
    args.output,
    folding_parameters=parameters,
    batch_size=args.batch_size,
    sequence_length=args.sequence_length,
  )
  print(
    f'Scored {summary["scored"]} sequences with {len(summary["models"])} '
    f'replica(s); molecules: {", ".join(summary["molecules"])}'
  )
  print(f'Scores written to {summary["output"]}')
  return 0
