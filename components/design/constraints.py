"""Constraints that every designed aptamer sequence must satisfy.

A `DesignConstraints` says which sequences a walker may emit: the right
length, DNA letters only, a G+C fraction inside a range, none of a list of
forbidden motifs (for example homopolymer runs that synthesise badly) and
none of the sequences that were already observed in an experiment.
"""

import dataclasses
from typing import FrozenSet
from typing import Iterable
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

DNA_BASES = 'ACGT'

# Byte value -> base code (A=0, C=1, G=2, T=3); 255 marks a non-ACGT byte.
_CODE_OF_BYTE = np.full(256, 255, dtype=np.uint8)
for _code, _base in enumerate(DNA_BASES):
  _CODE_OF_BYTE[ord(_base)] = _code
_C_CODE = 1
_G_CODE = 2


class DesignConstraintError(ValueError):
  """A design constraint or a flag that describes one is invalid."""


def is_dna(sequence: str) -> bool:
  """True when `sequence` is non-empty and made of A, C, G and T only."""
  return bool(sequence) and not sequence.strip(DNA_BASES)


def gc_fraction(sequence: str) -> float:
  """Fraction of the bases of `sequence` that are G or C."""
  if not sequence:
    return 0.0
  return (sequence.count('G') + sequence.count('C')) / len(sequence)


def _gc_count_allowed(gc_counts, length: int, gc_range: Tuple[float, float]):
  """Whether G+C counts (int or array) are inside the fraction range."""
  # Compare counts, not fractions, so that 0.3 * 40 == 12 is inclusive
  # despite floating-point rounding.
  low, high = gc_range
  tolerance = 1e-9
  return (gc_counts >= low * length - tolerance) & (
    gc_counts <= high * length + tolerance
  )


@dataclasses.dataclass(frozen=True)
class DesignConstraints:
  """What a designed sequence must satisfy.

  Attributes:
    sequence_length: Length every design must have (the variable region).
    gc_range: Optional inclusive (low, high) bounds on the G+C fraction.
    forbidden_motifs: Substrings that must not occur in a design.
    avoid: Sequences that must never be emitted (for example every sequence
      already observed in the experiment).
  """

  sequence_length: int
  gc_range: Optional[Tuple[float, float]] = None
  forbidden_motifs: Tuple[str, ...] = ()
  avoid: FrozenSet[str] = frozenset()

  def __post_init__(self):
    if (
      isinstance(self.sequence_length, bool)
      or not isinstance(self.sequence_length, (int, np.integer))
      or self.sequence_length <= 0
    ):
      raise DesignConstraintError(
        f'sequence_length must be a positive integer, got '
        f'{self.sequence_length!r}'
      )
    if self.gc_range is not None:
      try:
        low, high = (float(bound) for bound in self.gc_range)
      except (TypeError, ValueError) as error:
        raise DesignConstraintError(
          f'gc_range must be a (low, high) pair of fractions, got '
          f'{self.gc_range!r}'
        ) from error
      if not 0.0 <= low <= high <= 1.0:
        raise DesignConstraintError(
          f'gc_range must satisfy 0 <= low <= high <= 1, got {self.gc_range!r}'
        )
      object.__setattr__(self, 'gc_range', (low, high))
    if isinstance(self.forbidden_motifs, str):
      raise DesignConstraintError(
        f'forbidden_motifs must be a sequence of motifs, not the string '
        f'{self.forbidden_motifs!r}'
      )
    motifs = tuple(self.forbidden_motifs)
    for motif in motifs:
      if not isinstance(motif, str) or not is_dna(motif):
        raise DesignConstraintError(
          f'forbidden motif {motif!r} must be a non-empty string of A, C, G '
          f'and T'
        )
    object.__setattr__(self, 'forbidden_motifs', motifs)
    object.__setattr__(self, 'avoid', frozenset(self.avoid))

  def allows_composition(self, sequence: str) -> bool:
    """Length, letters, G+C fraction and motifs; ignores the avoid set.

    Seeds are usually observed sequences (so in `avoid`) but must still have
    a valid composition, hence this separate check.

    Args:
      sequence: A DNA sequence.

    Returns:
      Whether `sequence` has the right length, only ACGT letters, a G+C
      fraction inside `gc_range` and none of the forbidden motifs.
    """
    if len(sequence) != self.sequence_length or not is_dna(sequence):
      return False
    if self.gc_range is not None:
      gc_count = sequence.count('G') + sequence.count('C')
      if not _gc_count_allowed(gc_count, len(sequence), self.gc_range):
        return False
    return not any(motif in sequence for motif in self.forbidden_motifs)

  def allows(self, sequence: str) -> bool:
    """Whether a walker may emit `sequence` (composition and avoid set)."""
    return sequence not in self.avoid and self.allows_composition(sequence)

  def allows_codes(self, codes: np.ndarray) -> np.ndarray:
    """Vectorised `allows` for rows of base codes (A=0, C=1, G=2, T=3).

    Args:
      codes: uint8 array of shape [n, sequence_length].

    Returns:
      Boolean array of shape [n].
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != self.sequence_length:
      return np.zeros(codes.shape[:1], dtype=bool)
    allowed = np.all(codes < len(DNA_BASES), axis=1)
    if self.gc_range is not None:
      gc_counts = np.sum((codes == _C_CODE) | (codes == _G_CODE), axis=1)
      allowed &= _gc_count_allowed(
        gc_counts, self.sequence_length, self.gc_range
      )
    if self.forbidden_motifs or self.avoid:
      rows = np.flatnonzero(allowed)
      for row, sequence in zip(rows, decode(codes[rows])):
        if sequence in self.avoid or any(
          motif in sequence for motif in self.forbidden_motifs
        ):
          allowed[row] = False
    return allowed

  def filter(self, sequences: Iterable[str]) -> list:
    """The sequences of `sequences` that `allows`, in order."""
    return [sequence for sequence in sequences if self.allows(sequence)]


def encode(sequences: Sequence[str], length: int) -> np.ndarray:
  """Base codes of equal-length DNA sequences, shape [n, length], uint8.

  Args:
    sequences: DNA strings, all of length `length`.
    length: Their common length.

  Returns:
    The codes (A=0, C=1, G=2, T=3); 255 where a letter is not ACGT.

  Raises:
    DesignConstraintError: If a sequence has the wrong length.
  """
  for index, sequence in enumerate(sequences):
    if len(sequence) != length:
      raise DesignConstraintError(
        f'sequence {index} ({sequence!r}) has length {len(sequence)}, '
        f'expected {length}'
      )
  joined = ''.join(sequences).encode('ascii', errors='replace')
  raw = np.frombuffer(joined, dtype=np.uint8)
  return _CODE_OF_BYTE[raw].reshape(len(sequences), length)


_BYTE_OF_CODE = np.frombuffer(DNA_BASES.encode('ascii'), dtype=np.uint8)


def decode(codes: np.ndarray) -> list:
  """DNA strings of rows of base codes (inverse of `encode`)."""
  codes = np.asarray(codes, dtype=np.uint8)
  if codes.shape[0] == 0:
    return []
  length = codes.shape[1]
  text = _BYTE_OF_CODE[codes].tobytes().decode('ascii')
  return [text[start : start + length] for start in range(0, len(text), length)]


def parse_gc_range(flag_value: Optional[str]) -> Optional[Tuple[float, float]]:
  """Parses a `--gc_range` flag such as '0.3,0.7' (empty or None: no range).

  Args:
    flag_value: 'low,high' with 0 <= low <= high <= 1.

  Returns:
    The (low, high) pair, or None for an empty value.

  Raises:
    DesignConstraintError: Naming the flag value when it is malformed.
  """
  if flag_value is None or not flag_value.strip():
    return None
  parts = [part.strip() for part in flag_value.split(',')]
  if len(parts) != 2:
    raise DesignConstraintError(
      f'--gc_range {flag_value!r} must be two fractions "low,high", '
      f'e.g. "0.3,0.7"'
    )
  try:
    low, high = float(parts[0]), float(parts[1])
  except ValueError as error:
    raise DesignConstraintError(
      f'--gc_range {flag_value!r} must be two numbers "low,high", '
      f'e.g. "0.3,0.7"'
    ) from error
  if not 0.0 <= low <= high <= 1.0:
    raise DesignConstraintError(
      f'--gc_range {flag_value!r} must satisfy 0 <= low <= high <= 1'
    )
  return low, high


def parse_motifs(flag_value: Optional[str]) -> Tuple[str, ...]:
  """Parses a `--forbidden_motifs` flag such as 'AAAAAA,GGGG'.

  Args:
    flag_value: Comma-separated motifs (case-insensitive); empty: none.

  Returns:
    The motifs, upper-cased, in flag order without duplicates.

  Raises:
    DesignConstraintError: Naming the flag value and the bad motif.
  """
  if flag_value is None or not flag_value.strip():
    return ()
  motifs = []
  for part in flag_value.split(','):
    motif = part.strip().upper()
    if not is_dna(motif):
      raise DesignConstraintError(
        f'--forbidden_motifs {flag_value!r}: motif {part.strip()!r} must be '
        f'a non-empty string of A, C, G and T'
      )
    if motif not in motifs:
      motifs.append(motif)
  return tuple(motifs)
