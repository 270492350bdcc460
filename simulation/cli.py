"""Command line: `aptamer-simulate` / `python -m simulation`.

Usage:
  python -m simulation --output_dir data/demo [--seed 20210422]
      [--num_families 2000] [--mutants_per_family 6] [--sequence_length 40]
      [--depth 40000] [--stringencies high=32,medium=128,low=512]
      [--serum_stringencies high,medium] [--overwrite] ...

Every field of `SimulationConfig` is a flag of the same name, with the same
default; `--help` lists them all.
"""

import argparse
import dataclasses
import re
import sys
from typing import Dict
from typing import List

from simulation.config import SimulationConfig
from simulation.config import SimulationConfigError
from simulation.simulator import SimulationResult
from simulation.simulator import simulate
from simulation.writer import WriteSummary
from simulation.writer import write_dataset


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
  """The argument parser: one flag per SimulationConfig field."""
  parser = argparse.ArgumentParser(
    prog='aptamer-simulate',
    description=(
      'Simulates a particle-display aptamer selection with known binding '
      'energies and writes a dataset directory (experiment.pbtxt, gzip '
      'TFRecords of tf.Example, ground_truth.csv.gz).'
    ),
  )
  parser.add_argument(
    '--output_dir', required=True, help='dataset directory to create'
  )
  parser.add_argument(
    '--overwrite',
    action='store_true',
    help='replace output_dir if it exists and is not empty',
  )
  helps = _field_help()
  defaults = SimulationConfig()
  for field in dataclasses.fields(SimulationConfig):
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
    parser.add_argument(
      f'--{field.name}',
      type=kind,
      default=default,
      help=f'{helps.get(field.name, "")} (default: {shown})',
    )
  return parser


def summary(result: SimulationResult, written: WriteSummary) -> str:
  """A short human-readable report of a simulated dataset."""
  lines = [
    f'library members: {len(result.sequences)} in '
    f'{result.config.num_families} families',
    'bead sorts (screened, collected, fraction):',
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
  lines.append(
    f'wrote {written.num_examples} examples '
    f'({len(written.example_files)} TFRecord file(s), '
    f'{written.total_bytes / 1e6:.2f} MB in all) to {written.output_dir}'
  )
  return '\n'.join(lines)


def main(argv: List[str] | None = None) -> int:
  """Runs the simulator from the command line.

  Args:
    argv: the arguments without the program name; None for sys.argv.

  Returns:
    The exit status.
  """
  parser = build_parser()
  args = parser.parse_args(argv)
  config_args = {
    f.name: getattr(args, f.name) for f in dataclasses.fields(SimulationConfig)
  }
  try:
    config = SimulationConfig(**config_args)
    result = simulate(config)
    written = write_dataset(result, args.output_dir, overwrite=args.overwrite)
  except (SimulationConfigError, FileExistsError) as e:
    parser.error(str(e))
  print(summary(result, written))
  return 0


if __name__ == '__main__':
  sys.exit(main())
