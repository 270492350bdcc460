"""Which latent affinities an experiment design can tell apart, before training.

The LATENT_AFFINITY output layers (MODEL_SPEC 2.6) predict each trained read
column t as

  y_t = sum_m z_m * |W_mt| * s_mt + b_t,

with z_m the latent affinity of molecule m and s the selection signs of
`schema.experiment.selection_signs`. Only s comes from the design. If
sum_m v_m * s_m = 0 over the read columns for some nonzero vector v, then
z + g(x) * v predicts the same counts as z for any function g of the
sequence x (with W at its initial ones), so the molecules with v_m != 0 have
no affinity of their own: only the combinations orthogonal to v are learned.
Two rows that are equal (v = e_i - e_j) or opposite (v = e_i + e_j) are the
common case: serum as background next to the target in every sequenced round
gives s_serum = -s_target, and only z_target - z_serum is identified, so the
served affinity_target and affinity_serum may each carry either sign.

Rule implemented: molecule m is identifiable iff e_m is orthogonal to the
left null space of s (equivalently, no linear dependence among the sign rows
involves m); the non-identifiable molecules are split into confounded groups,
the connected components of the projector onto that null space (the finest
split of the dependencies into molecule-disjoint ones). For two molecules
this is exactly the rank test rank([s_i; s_j]) < 2: equal or
(anti-)proportional rows over ALL trained columns. Rows that agree on some
columns but differ in at least one are separable. An all-zero row (the
molecule is in no sequenced, trained round) is reported as unobserved, not
as confounded.

Why the plain sign pattern, not a concentration-weighted one: the model never
reads `target_concentrations` or `background_concentrations`, and every
(molecule, read) pair has its own learned magnitude |W_mt|, which absorbs any
per-column positive weighting, concentrations included. Concentration-
weighted rows c_mt * s_mt are therefore the same design, for this model, as
s_mt; testing them instead would call target and serum separable whenever
the target concentration varies between rounds while serum's does not,
which the model cannot use.

Caveat (stronger than this rule): the learned |W| also allows mixing that
keeps every sign and zero of s. When one molecule's read columns are a
subset of another's (serum's of target's in the demo), the smaller one's
latent can absorb any positive multiple of the larger one's with the same
predictions. `describe` says so for such molecules (`nested_in`); the
decision of what is served (`model_axes`) rests on the design-level rule.

What is served (`model_axes`): one latent per separable molecule; one
combined latent per confounded group of equal or opposite rows, named
`<first>_vs_<other>` (opposite: their difference is identified) or
`<first>_and_<other>` (equal: their sum), with the first molecule's signs;
an error for a group that no single latent can carry; nothing for an
unobserved molecule.
"""

import dataclasses
from typing import Dict
from typing import List
from typing import Sequence
from typing import Tuple

import numpy as np

from schema import experiment as experiment_lib

_TOL = 1e-8
_MAX_LISTED = 4


@dataclasses.dataclass(frozen=True)
class Identifiability:
  """What the design identifies, molecules in the experiment's axis order.

  Attributes:
    separable: molecules whose affinity the design identifies on its own.
    confounded_groups: groups of molecules whose sign rows over the trained
      read columns are linearly dependent (for two molecules: equal or
      opposite); only combinations of their affinities are identified.
    unobserved: molecules with an all-zero sign row: no trained read sees
      them.
    signs: the selection signs the decision was made on.
    read_rounds: the round that produced each of `signs.reads`.
  """

  separable: Tuple[str, ...]
  confounded_groups: Tuple[Tuple[str, ...], ...]
  unobserved: Tuple[str, ...]
  signs: experiment_lib.SelectionSigns = dataclasses.field(
    compare=False, repr=False
  )
  read_rounds: Tuple[str, ...] = dataclasses.field(compare=False, repr=False)

  def describe(self) -> List[str]:
    """Plain-English lines for the console, one per finding."""
    lines = []
    for group in self.confounded_groups:
      lines.append(self._describe_group(group))
    for molecule in self.separable:
      lines.append(self._describe_separable(molecule))
    for molecule in self.unobserved:
      lines.append(
        f'{molecule} is unobserved: no trained read column comes from a '
        'round where it is a target or background, so nothing informs its '
        'affinity.'
      )
    return lines

  def _row(self, molecule: str) -> np.ndarray:
    return self.signs.matrix[self.signs.molecules.index(molecule)]

  def _rounds(self, columns) -> str:
    rounds = sorted({self.read_rounds[j] for j in columns})
    return ', '.join(rounds)

  def _describe_group(self, group: Tuple[str, ...]) -> str:
    rows = np.stack([self._row(m) for m in group]).astype(np.float64)
    columns = np.flatnonzero(np.any(rows != 0, axis=0))
    names = _join(group)
    where = f'(rounds {self._rounds(columns)})'
    if np.linalg.matrix_rank(rows, tol=_TOL) == 1:
      first = rows[0]
      relations = []
      for molecule, row in zip(group[1:], rows[1:]):
        same = np.allclose(row, first)
        relations.append((molecule, 'the same' if same else 'the opposite'))
      if len({r for _, r in relations}) == 1:
        pattern = f'{relations[0][1]} sign pattern'
        if len(group) == 2:
          seen = 'every read column that sees one sees the other'
        else:
          seen = f'every read column that sees {group[0]} sees the others'
        how = f'{seen} with {pattern}'
      else:
        parts = ', '.join(f'{m} with {r} sign' for m, r in relations)
        how = f'every read column that sees {group[0]} sees {parts}'
      combination = 'their combination'
      if len(group) == 2:
        combination = (
          f'their sum ({group[0]} + {group[1]})'
          if relations[0][1] == 'the same'
          else f'their difference ({group[0]} - {group[1]})'
        )
      return (
        f'{names} are confounded: {how} {where}; their separate affinities '
        f'are not identifiable from this design; only {combination} is.'
      )
    return (
      f'{names} are confounded: their sign patterns over the read columns '
      f'are linearly dependent (one is a combination of the others) {where}; '
      'their separate affinities are not identifiable from this design; '
      'only combinations of them are.'
    )

  def _describe_separable(self, molecule: str) -> str:
    row = self._row(molecule)
    seen = np.flatnonzero(row)
    text = (
      f'{molecule} is separable: its affinity is identified by this design '
      f'(read columns {_listed([self.signs.reads[j] for j in seen])})'
    )
    contrasts = []
    for other in self.signs.molecules:
      other_row = self._row(other)
      shared = np.flatnonzero((row != 0) & (other_row != 0))
      if other == molecule or not shared.size:
        continue
      # Relative sign at the first shared column; where that proportion
      # breaks is what separates the pair.
      ratio = other_row[shared[0]] / row[shared[0]]
      breaks = np.flatnonzero(~np.isclose(other_row, ratio * row))
      absent = (row[breaks] == 0) | (other_row[breaks] == 0)
      if np.all(absent):
        kind = 'only one of them is present there'
      elif not np.any(absent):
        kind = 'their relative sign flips there'
      else:
        kind = 'presence or relative sign differs there'
      relation = 'the same' if ratio > 0 else 'the opposite'
      contrasts.append(
        f'{other} goes with it with {relation} sign in {shared.size} shared '
        f'read column(s) but not in '
        f'{_listed([self.signs.reads[j] for j in breaks])} ({kind})'
      )
    if contrasts:
      text += '; ' + '; '.join(contrasts)
    text += '.'
    for other in self.nested_in(molecule):
      text += (
        f' Caveat: every read column of {molecule} also sees {other}, so the '
        f'learned weights can mix any multiple of affinity_{other} into '
        f'affinity_{molecule} with the same predicted counts; '
        f'affinity_{molecule} ranks {molecule} binding only up to that '
        f'mixture (affinity_{other} is unaffected).'
      )
    return text

  def nested_in(self, molecule: str) -> List[str]:
    """Separable molecules whose read columns strictly contain `molecule`'s.

    The learned |W| then lets `molecule`'s latent absorb an unbounded
    multiple of theirs (see the module docstring's caveat).
    """
    seen = self._row(molecule) != 0
    out = []
    for other in self.separable:
      other_seen = self._row(other) != 0
      if (
        other != molecule
        and np.all(other_seen[seen])
        and (other_seen.sum() > seen.sum())
      ):
        out.append(other)
    return out


def _join(names: Sequence[str]) -> str:
  if len(names) <= 2:
    return ' and '.join(names)
  return ', '.join(names[:-1]) + ' and ' + names[-1]


def _listed(names: Sequence[str]) -> str:
  if len(names) <= _MAX_LISTED:
    return ', '.join(names)
  more = len(names) - _MAX_LISTED
  return ', '.join(names[:_MAX_LISTED]) + f' and {more} more'


def _read_rounds(experiment, reads: Sequence[str]) -> Tuple[str, ...]:
  producer: Dict[str, str] = {}
  for name, rnd in experiment.rounds.items():
    for kind in ('positive_reads', 'negative_reads'):
      if rnd.HasField(kind) and getattr(rnd, kind).name:
        producer[getattr(rnd, kind).name] = name
  return tuple(producer[r] for r in reads)


def _components(linked: np.ndarray, members: Sequence[int]) -> List[List[int]]:
  """Connected components of the boolean adjacency `linked` on `members`."""
  left = set(members)
  out = []
  while left:
    start = min(left)
    stack, component = [start], {start}
    while stack:
      i = stack.pop()
      for j in np.flatnonzero(linked[i]):
        if j in left and j not in component:
          component.add(int(j))
          stack.append(int(j))
    left -= component
    out.append(sorted(component))
  return sorted(out)


def identifiability(experiment, reads: Sequence[str] = None) -> Identifiability:
  """Decides which molecules' latent affinities the design can separate.

  Args:
    experiment: a validated `Experiment` message.
    reads: the trained read columns (default: all non-input reads, the
      LATENT_AFFINITY training targets).

  Returns:
    The `Identifiability` of every molecule of the latent-affinity axis.
  """
  signs = experiment_lib.selection_signs(experiment, reads)
  matrix = signs.matrix.astype(np.float64)
  molecules = signs.molecules
  num_molecules = len(molecules)
  observed = np.any(matrix != 0, axis=1)
  # Left null space of s: all v with v @ s = 0.
  u, singular, _ = np.linalg.svd(matrix, full_matrices=True)
  rank = int(np.sum(singular > _TOL * max(1.0, singular.max(initial=0.0))))
  null = u[:, rank:]
  projector = null @ null.T
  dependent = np.diag(projector) > _TOL
  confounded = [i for i in range(num_molecules) if dependent[i] and observed[i]]
  groups = _components(np.abs(projector) > _TOL, confounded)
  return Identifiability(
    separable=tuple(
      m for i, m in enumerate(molecules) if observed[i] and not dependent[i]
    ),
    confounded_groups=tuple(tuple(molecules[i] for i in g) for g in groups),
    unobserved=tuple(m for i, m in enumerate(molecules) if not observed[i]),
    signs=signs,
    read_rounds=_read_rounds(experiment, signs.reads),
  )


class IdentifiabilityError(experiment_lib.ExperimentError):
  """The design confounds molecules in a way no single latent can carry."""


def combined_name(group: Sequence[str], signs=None) -> str:
  """The latent name of a confounded group's combined affinity.

  The model serves it as `affinity_<name>`.

  Args:
    group: molecules in the experiment's molecule order, as in
      `Identifiability.confounded_groups`.
    signs: their sign rows ([len(group), reads]); with them, a member whose
      row equals the first one's is joined with '_and_' (their sum is what
      is identified), an opposite one with '_vs_' (their difference).
      Without them every member is joined with '_vs_'.

  Returns:
    For example 'target_vs_serum'.
  """
  name = group[0]
  for i, molecule in enumerate(group[1:], start=1):
    same = signs is not None and np.allclose(signs[i], signs[0])
    name += ('_and_' if same else '_vs_') + molecule
  return name


def model_axes(experiment, reads: Sequence[str] = None):
  """The latent affinities a LATENT_* model learns and serves.

  One latent per separable molecule, named by it; one per confounded group
  whose sign rows are all equal or opposite (the common case, e.g. serum
  as background wherever the target is), named by `combined_name` and
  carrying its first molecule's signs, so `affinity_target_vs_serum` rises
  with target binding relative to serum; none for unobserved molecules (no
  trained read informs them). Latents keep the experiment's molecule order.

  Args:
    experiment: a validated `Experiment` message.
    reads: the trained read columns (default: the LATENT_AFFINITY targets).

  Returns:
    A `SelectionSigns` whose `molecules` are the latent names.

  Raises:
    IdentifiabilityError: a confounded group's rows are not all
      proportional (three or more molecules, one a combination of the
      others): no single combined latent is identified; the message names
      the molecules and what to change.
  """
  names, rows, reads = _latents(experiment, reads)
  matrix = (
    np.stack([row for _, _, row in rows]).astype(np.float32)
    if rows
    else np.zeros((0, len(reads)), np.float32)
  )
  return experiment_lib.SelectionSigns(tuple(names), reads, matrix)


def primary_molecules(experiment, reads: Sequence[str] = None):
  """Served latent name -> the molecule whose signs it carries.

  `target` -> `target`; `target_vs_serum` -> `target`: the combined latent
  rises with target binding, so the target's evidence judges it.
  """
  names, rows, _ = _latents(experiment, reads)
  return {name: primary for name, (_, primary, _) in zip(names, rows)}


def _latents(experiment, reads):
  """(names, [(name, primary molecule, sign row)], reads): model_axes."""
  result = identifiability(experiment, reads)
  signs = result.signs
  group_of = {g[0]: g for g in result.confounded_groups}
  grouped = {m for g in result.confounded_groups for m in g}
  names, rows = [], []
  for molecule in signs.molecules:
    if molecule in result.separable:
      names.append(molecule)
      rows.append((molecule, molecule, result._row(molecule)))
    elif molecule in group_of:
      group = group_of[molecule]
      group_rows = np.stack([result._row(m) for m in group])
      if np.linalg.matrix_rank(group_rows.astype(np.float64), tol=_TOL) != 1:
        raise IdentifiabilityError(
          f'{_join(group)} are confounded in a way no single combined '
          'affinity can represent (their sign patterns over the read '
          'columns are linearly dependent, but not all equal or opposite); '
          'sequence a round that separates them (one molecule without the '
          'others), or remove one from experiment.pbtxt'
        )
      names.append(combined_name(group, group_rows))
      rows.append((names[-1], molecule, group_rows[0]))
    else:
      assert molecule in result.unobserved or molecule in grouped
  return names, rows, signs.reads


def summary_lines(experiment, reads: Sequence[str] = None) -> List[str]:
  """What the console and the report say before training, one per line.

  Raises:
    IdentifiabilityError: as `model_axes`.
  """
  served = model_axes(experiment, reads).molecules
  lines = ['Affinities this experiment design identifies:']
  lines += [
    f'  {line}' for line in identifiability(experiment, reads).describe()
  ]
  lines.append(
    '  served latent affinities: '
    + (', '.join(f'affinity_{name}' for name in served) or 'none')
  )
  return lines
