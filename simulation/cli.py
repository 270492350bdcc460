"""Command line: `aptamer-simulate` / `python -m simulation`.

Usage:
  python -m simulation --output_dir data/demo [--scenario demo]
      [--landscape motif_epistasis] [--seed 20210422] [--num_families 6000]
      [--depth 150000] [--stringencies high=32,medium=128,low=512]
      [--serum_stringencies high,medium] [--overwrite] ...
  python -m simulation --list_scenarios

`--scenario` picks a named configuration (simulation/scenarios.py; default
demo). Every field of `SimulationConfig` except `rounds` is a flag of the
same name that overrides the scenario's value; the demo design's flags
(`--stringencies`, `--serum_stringencies`, ...) are errors for scenarios that
list rounds of their own. `--help` lists them all.
"""

import argparse
import collections
import dataclasses
import os
import re
import shutil
import sys
from typing import Dict
from typing import List

from schema import experiment as experiment_lib
from simulation import fastq_dataset
from simulation import scenarios
from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError
from simulation.simulator import SimulationResult
from simulation.simulator import simulate
from simulation.writer import WriteSummary
from simulation.writer import write_dataset
from simulation.writer import write_truth_files


def _field_help() -> Dict[str, str]:
  """Field descriptions from the Attributes section of SimulationConfig."""
  doc = SimulationConfig.__doc__.split('Attributes:', 1)[1]
  helps, name = {}, None
  for line in doc.splitlines():
    match = re.match(r'\s{4}(\w+): (.*)', line)
    if match:
      name = match.group(1)
      helps[name] = match.group(2)
    elif name and line.strip():
      helps[name] += ' ' + line.strip()
  return helps


def _parse_stringencies(text: str):
  out = []
  for item in filter(None, text.split(',')):
    name, sep, conc = item.partition('=')
    try:
      if not sep:
        raise ValueError
      out.append((name.strip(), float(conc)))
    except ValueError:
      raise argparse.ArgumentTypeError(
        f'expected name=concentration[,name=concentration...], got {text!r}'
      ) from None
  return tuple(out)


def _parse_names(text: str):
  return tuple(n.strip() for n in text.split(',') if n.strip())


def _bool(text: str) -> bool:
  if text.lower() in ('1', 'true', 'yes'):
    return True
  if text.lower() in ('0', 'false', 'no'):
    return False
  raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')


def build_parser() -> argparse.ArgumentParser:
  """The argument parser: a scenario, then one flag per config field."""
  parser = argparse.ArgumentParser(
    prog='aptamer-simulate',
    description=(
      'Simulates an aptamer selection experiment (particle display or SELEX) '
      'with known binding energies and writes a dataset directory '
      '(experiment.pbtxt, gzip TFRecords of tf.Example, ground_truth.csv.gz, '
      'unseen_sequences.csv.gz).'
    ),
  )
  parser.add_argument('--output_dir', help='dataset directory to create')
  parser.add_argument(
    '--overwrite',
    action='store_true',
    help='replace output_dir if it exists and is not empty',
  )
  parser.add_argument(
    '--scenario',
    default=scenarios.DEMO,
    help=(
      'named configuration the other flags override, one of '
      f'{", ".join(scenarios.SCENARIOS)} (default: {scenarios.DEMO})'
    ),
  )
  parser.add_argument(
    '--fastq',
    action='store_true',
    help=(
      'write the sequenced pools as gzip FASTQ read pairs (Illumina-like '
      'errors, primers, adapters) named in experiment.pbtxt, instead of '
      'counted TFRecord examples; the truth files are written too'
    ),
  )
  parser.add_argument(
    '--single_end',
    action='store_true',
    help='with --fastq: R1 files only',
  )
  parser.add_argument(
    '--list_scenarios',
    action='store_true',
    help='print every scenario with its description and exit',
  )
  helps = _field_help()
  defaults = SimulationConfig()
  for field in dataclasses.fields(SimulationConfig):
    if field.name == 'rounds':
      continue  # A design comes from a scenario, not from a flag.
    default = getattr(defaults, field.name)
    if field.name == 'stringencies':
      kind = _parse_stringencies
      shown = ','.join(f'{n}={c:g}' for n, c in default)
    elif field.name == 'serum_stringencies':
      kind = _parse_names
      shown = ','.join(default)
    elif isinstance(default, bool):
      kind, shown = _bool, str(default).lower()
    else:
      kind, shown = type(default), default
    # Only flags given on the command line override the scenario.
    parser.add_argument(
      f'--{field.name}',
      type=kind,
      default=argparse.SUPPRESS,
      help=f'{helps.get(field.name, "")} (demo default: {shown})',
    )
  return parser


def list_scenarios() -> str:
  """One line per scenario: its name and description."""
  width = max(len(name) for name in scenarios.SCENARIOS)
  return '\n'.join(
    f'{name:<{width}}  {scenario.description}'
    for name, scenario in scenarios.SCENARIOS.items()
  )


def summary(
  result: SimulationResult, written: WriteSummary, scenario: str = ''
) -> str:
  """A short human-readable report of a simulated dataset."""
  lines = [f'scenario: {scenario}'] if scenario else []
  lines += [
    f'landscape: {result.config.landscape}'
    + (
      f' + energy matrix x {result.config.matrix_weight:g}'
      if result.config.matrix_weight
      else ''
    )
    + f', noise sd {result.config.binding_noise_scale:g}',
    f'library members: {len(result.sequences)} in '
    f'{result.config.num_families} families',
    'selection rounds (beads or molecules screened, collected, fraction):',
  ]
  for name, sort in result.sorts.items():
    lines.append(
      f'  {name:<28} {sort.screened:>9} {sort.collected:>9} '
      f'{sort.collected / max(sort.screened, 1):>8.4f}'
    )
  lines.append('read columns (total reads, unique sequences):')
  for name in result.count_names:
    counts = result.counts[name]
    lines.append(
      f'  {name:<34} {int(counts.sum()):>9} {int((counts > 0).sum()):>7}'
    )
  if result.unseen is not None:
    kinds = collections.Counter(result.unseen.kind)
    lines.append(
      'unseen sequences: '
      + ', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))
    )
  lines.append(
    f'wrote {written.num_examples} examples '
    f'({len(written.example_files)} TFRecord file(s), '
    f'{written.total_bytes / 1e6:.2f} MB in all) to {written.output_dir}'
  )
  return '\n'.join(lines)


def _write_fastq(result, output_dir: str, overwrite: bool, paired: bool):
  """A FASTQ dataset with the truth files beside the reads."""
  if overwrite and os.path.isdir(output_dir):
    shutil.rmtree(output_dir)
  path = fastq_dataset.write_fastq_dataset(result, output_dir, paired=paired)
  write_truth_files(result, path)


def main(argv: List[str] | None = None) -> int:
  """Runs the simulator from the command line.

  Args:
    argv: the arguments without the program name; None for sys.argv.

  Returns:
    The exit status.
  """
  parser = build_parser()
  args = parser.parse_args(argv)
  if args.list_scenarios:
    print(list_scenarios())
    return 0
  if not args.output_dir:
    parser.error('the following arguments are required: --output_dir')
  fields = {f.name for f in dataclasses.fields(SimulationConfig)}
  overrides = {k: v for k, v in vars(args).items() if k in fields}
  try:
    config = scenarios.configure(args.scenario, **overrides)
    result = simulate(config)
    if args.fastq:
      _write_fastq(result, args.output_dir, args.overwrite, not args.single_end)
      print(
        f'scenario: {args.scenario}; FASTQ dataset written to '
        f'{args.output_dir} (reads of {len(result.count_names)} pools)'
      )
      return 0
    written = write_dataset(result, args.output_dir, overwrite=args.overwrite)
  except (
    SimulationConfigError,
    experiment_lib.ExperimentError,
    FileExistsError,
  ) as e:
    parser.error(str(e))
  print(summary(result, written, args.scenario))
  return 0


if __name__ == '__main__':
  sys.exit(main())
