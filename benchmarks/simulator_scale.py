"""Simulator at paper scale: time and memory per dataset size, and _too_close.

For each target number of observed sequences (unique sequences with a read,
the examples a dataset holds), sizes the demo scenario like the demo: the
demo's 6,000 families with 150,000 reads per pool give 33,340 observed
sequences, 5.557 per family at 25 reads per family per pool; so
num_families = target / 5.557 (rounded to a thousand) and depth = 25 reads
per family. Then, each in its own process:

  * `python -m simulation --output_dir DIR --num_families N --depth D`,
    timed (TensorFlow's import included, about 8 s), with that process's
    peak resident memory (os.wait4) and its observed sequences (the
    summary's 'wrote N examples');

and, in this process, on the parents of --parents families (drawn as the
simulator's first draw, before any redraw, from the library stream of
--seed):

  * library._too_close (pigeonhole blocks), timed on all of them;
  * the all-pairs check it replaced, timed on the first --old_rows of them
    and extrapolated quadratically to all (pairs grow as n**2); both must
    give the same rows on that subset.

Other jobs share the machine: note the load average printed.

Usage:
  python benchmarks/simulator_scale.py [--targets 100000,300000,1000000] \
      [--parents 180000] [--old_rows 20000] [--seed 20210422] \
      [--work_dir /tmp/simulator_scale]
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402

from simulation import binding  # noqa: E402
from simulation import library  # noqa: E402
from simulation.config import SimulationConfig  # noqa: E402

# The demo: 33,340 observed sequences from 6,000 families at 150,000 reads.
_OBSERVED_PER_FAMILY = 33340 / 6000
_READS_PER_FAMILY = 150000 / 6000
_FAMILY_SIZE = 1 + SimulationConfig().mutants_per_family


def size_for(observed: int):
  """(num_families, depth) that give about `observed` observed sequences."""
  families = max(1000, int(round(observed / _OBSERVED_PER_FAMILY, -3)))
  return families, int(families * _READS_PER_FAMILY)


def _too_close_all_pairs(codes, min_distance, block=256):
  """The quadratic check library._too_close replaced."""
  num = len(codes)
  close = np.zeros(num, bool)
  for start in range(0, num, block):
    rows = codes[start : start + block]
    dist = (rows[:, None, :] != codes[None, :, :]).sum(-1)
    i, j = np.nonzero(dist < min_distance)
    close[j[j > i + start]] = True
  return np.flatnonzero(close)


def first_parents(num_families: int, seed: int):
  """The parents of library._draw_parents's first draw for the defaults."""
  config = SimulationConfig(num_families=num_families, seed=seed)
  rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
  plantings = binding.DEFAULT_PLANTINGS
  num_carriers = int(round(num_families * config.motif_fraction))
  probs = np.array([p for _, p in plantings], np.float64)
  motif_sets = np.full(num_families, -1, np.int64)
  carriers = rng.choice(num_families, num_carriers, replace=False)
  motif_sets[carriers] = rng.choice(
    len(plantings), num_carriers, p=probs / probs.sum()
  )
  codes = library._draw_parent_rows(
    np.arange(num_families),
    config.sequence_length,
    motif_sets,
    binding.DEFAULT_MOTIFS,
    plantings,
    rng,
  )
  return codes, 2 * config.max_mutations + 1


def simulator_command(out: str, families: int, depth: int, seed: int):
  """The simulator's command line for one dataset of the demo scenario."""
  return [
    sys.executable,
    '-m',
    'simulation',
    '--output_dir',
    out,
    '--overwrite',
    '--num_families',
    str(families),
    '--depth',
    str(depth),
    '--seed',
    str(seed),
  ]


def run_simulator(families: int, depth: int, seed: int, work_dir: str):
  """(seconds, peak RSS GiB, observed sequences) of one simulator process."""
  out = os.path.join(work_dir, f'families_{families}')
  command = simulator_command(out, families, depth, seed)
  start = time.perf_counter()
  child = subprocess.Popen(
    command,
    cwd=_ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
  )
  stdout = child.stdout.read()
  _, status, usage = os.wait4(child.pid, 0)
  seconds = time.perf_counter() - start
  child.returncode = os.waitstatus_to_exitcode(status)
  if child.returncode:
    raise SystemExit(f'{" ".join(command)} failed:\n{stdout}')
  match = re.search(r'wrote (\d+) examples', stdout)
  shutil.rmtree(out, ignore_errors=True)
  return seconds, usage.ru_maxrss / 2**20, int(match.group(1))


def _table(rows):
  print('| ' + ' | '.join(rows[0]) + ' |')
  print('|' + '---|' * len(rows[0]))
  for row in rows:
    print('| ' + ' | '.join(str(v) for v in row.values()) + ' |')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--targets', default='100000,300000,1000000')
  parser.add_argument('--parents', type=int, default=180_000)
  parser.add_argument('--old_rows', type=int, default=20_000)
  parser.add_argument('--seed', type=int, default=SimulationConfig().seed)
  parser.add_argument('--work_dir', default=None)
  args = parser.parse_args()
  try:
    targets = [int(t) for t in args.targets.split(',') if t.strip()]
  except ValueError:
    parser.error(f'--targets must be integers, got {args.targets!r}')
  if not targets or min(targets) < 1:
    parser.error('--targets must list positive observed-sequence counts')
  if not 0 < args.old_rows <= args.parents:
    parser.error('--old_rows must be in [1, --parents]')

  print(f'cpus: {os.cpu_count()}, load average before: {os.getloadavg()}')
  work_dir = args.work_dir or tempfile.mkdtemp(prefix='simulator_scale-')
  os.makedirs(work_dir, exist_ok=True)
  rows = []
  for target in targets:
    families, depth = size_for(target)
    seconds, peak, observed = run_simulator(
      families, depth, args.seed, work_dir
    )
    rows.append(
      {
        'target observed': f'{target:,}',
        'num_families': f'{families:,}',
        'depth': f'{depth:,}',
        'library members': f'{families * _FAMILY_SIZE:,}',
        'observed sequences': f'{observed:,}',
        'seconds': f'{seconds:.1f}',
        'peak RSS GiB': f'{peak:.2f}',
        'load (1 min)': f'{os.getloadavg()[0]:.2f}',
      }
    )
    print(f'done: {rows[-1]}', flush=True)
  print()
  _table(rows)

  codes, min_distance = first_parents(args.parents, args.seed)
  start = time.perf_counter()
  new = library._too_close(codes, min_distance)
  new_s = time.perf_counter() - start
  subset = codes[: args.old_rows]
  start = time.perf_counter()
  old = _too_close_all_pairs(subset, min_distance)
  old_subset_s = time.perf_counter() - start
  same = np.array_equal(old, library._too_close(subset, min_distance))
  old_s = old_subset_s * (args.parents / args.old_rows) ** 2
  print()
  _table(
    [
      {
        'parents': f'{args.parents:,}',
        'min_distance': min_distance,
        'close rows (new)': len(new),
        'new s': f'{new_s:.2f}',
        f'old s on first {args.old_rows:,}': f'{old_subset_s:.1f}',
        'old s, all (extrapolated n**2)': f'{old_s:.0f}',
        'speed-up': f'**{old_s / new_s:.0f}x**',
        'same rows on the subset': same,
        'load (1 min)': f'{os.getloadavg()[0]:.2f}',
      }
    ]
  )
  print(
    '\nCommand: python benchmarks/simulator_scale.py ' + ' '.join(sys.argv[1:])
  )
  peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  print(f'peak RSS of this process (the _too_close part): {peak_self:.2f} GiB')
  if not args.work_dir:
    shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == '__main__':
  main()
