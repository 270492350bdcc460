"""Per-read quality control: cut the variable region out of a read or pair.

The rules follow the original `fastq_to_sstable.py` flags (MODEL_SPEC.md
5.1), with the primer search it leaves implicit made explicit. Both primers
are on the variable region's strand (MODEL_SPEC.md 1.1: the aptamer is
forward_primer + region + reverse_primer), so R1 reads

  forward_primer, region, reverse_primer, then adapter (read-through)

and R2, the other strand read from the other end, reads

  revcomp(reverse_primer), revcomp(region), revcomp(forward_primer), ...

One read, in order (the first rule that applies gives the fate):

1. The leading primer (R1: forward; R2: revcomp of reverse) is compared with
   the read at start offsets 0..max_primer_offset (a few bases of phasing or
   stagger); the offset with the fewest substitutions wins (the smallest on
   ties), and more than max_primer_mismatches substitutions there ->
   NO_PRIMER.
2. The trailing primer is searched at every position from the end of the
   leading primer on; the first (leftmost) position where it matches with at
   most max_primer_mismatches substitutions ends the region. Near the end of
   the read only the primer's first bases are visible: a partial match counts
   when at least min_trailing_primer_bases bases are compared. No match ->
   NO_PRIMER. The leftmost match is the right one: a false match inside a
   40-nt region has to match a whole 20-nt primer, while the partial matches
   that are easy to hit by chance lie beyond the true position.
3. A region shorter or longer than sequence_length -> TOO_SHORT / TOO_LONG
   (an indel, or a primer dimer with no region at all).
4. Any base other than A/C/G/T in the region -> HAS_N.
5. More than max_bad_bases region bases with quality below
   base_quality_threshold, or a mean region quality below min_mean_quality
   -> LOW_QUALITY. Otherwise OKAY.

A pair: both reads go through steps 1-3 (R1's fate first). R2's region is
reverse-complemented (its qualities reversed) and the consensus of the two
regions is built base by base:

- where they agree: that base, with the higher of the two qualities (the
  max, not the sum: the two reads of one molecule share its PCR errors, so
  their agreement is not two independent observations, and the max stays on
  the 0-41 scale the thresholds are set for);
- where they disagree (an N counts as a disagreement): the base of the
  higher-quality read (R1's on a tie), with quality = the difference of the
  two qualities, so two confident reads that disagree give a base of low
  quality, not a confident one.

More than max_pair_dissimilarity disagreements -> BAD_PAIR (this catches
pairs whose mates come from different molecules). Steps 4 and 5 then apply
to the consensus.

Everything here is a pure function of its arguments: the functions pickle
and can run inside a Beam DoFn.
"""

import collections
import dataclasses
import enum
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Union

import numpy as np

from components.data.fastq import count_table
from components.data.fastq import records

_BASES = 'ACGT'
_COMPLEMENT = str.maketrans('ACGTNacgtn', 'TGCANtgcan')
# Phred+33 '~' is Q93, the largest score a quality character can hold.
_MAX_QUALITY = records.MAX_PHRED


class ReadQcConfigError(ValueError):
  """A ReadQcConfig field is invalid."""


class Fate(str, enum.Enum):
  """What happened to a read or pair.

  OKAY: counted. NO_PRIMER: a primer is missing or has too many
  substitutions. TOO_SHORT / TOO_LONG: the region between the primers is
  not sequence_length long. HAS_N: the region holds a base other than
  A/C/G/T. LOW_QUALITY: the region fails the per-base or mean quality
  filter. BAD_PAIR: R1 and R2 disagree at too many positions.
  """

  OKAY = 'okay'
  NO_PRIMER = 'no_primer'
  TOO_SHORT = 'too_short'
  TOO_LONG = 'too_long'
  HAS_N = 'has_n'
  LOW_QUALITY = 'low_quality'
  BAD_PAIR = 'bad_pair'


FATES = tuple(Fate)


def reverse_complement(sequence: str) -> str:
  """The reverse complement; bases other than ACGT map to themselves."""
  return sequence.translate(_COMPLEMENT)[::-1]


@dataclasses.dataclass(frozen=True)
class ReadQcConfig:
  """The read filters. Defaults are the original's flags (MODEL_SPEC 5.1).

  Attributes:
    forward_primer: the experiment's forward primer (region strand).
    reverse_primer: the experiment's reverse primer (region strand).
    sequence_length: the exact length of the variable region.
    base_quality_threshold: a region base scoring below this is bad.
    max_bad_bases: at most this many bad bases pass (one more fails).
    min_mean_quality: the region's mean quality must be at least this.
    max_pair_dissimilarity: at most this many R1/R2 disagreements pass.
    max_primer_mismatches: substitutions allowed in each primer (not a flag
      of the original, whose primer matching is not public; 2 of 20 bases
      tolerates sequencing errors while a random 20-mer matches with
      probability ~1e-9).
    max_primer_offset: the leading primer may start at offsets 0..this.
    min_trailing_primer_bases: the fewest trailing-primer bases a match
      needs when the read ends inside that primer.
    max_expected_errors: the region fails (LOW_QUALITY) when the sum of
      its bases' error probabilities, sum 10^(-Q/10), exceeds this; None
      turns it off. Not one of the original's filters, and on by default:
      they pass a consensus with a base where two confident reads disagreed
      (quality = the difference, near 0: a coin flip), and 0.4-0.5 % of
      counted simulated pairs then carry a sequence the library does not
      have; 0.5 (any base of quality 3 or lower fails) brings that to
      0.07 % at 99.1 % recovery.
  """

  forward_primer: str
  reverse_primer: str
  sequence_length: int = 40
  base_quality_threshold: int = 20
  max_bad_bases: int = 5
  min_mean_quality: float = 30.0
  max_pair_dissimilarity: int = 5
  max_primer_mismatches: int = 2
  max_primer_offset: int = 3
  min_trailing_primer_bases: int = 10
  max_expected_errors: Optional[float] = 0.5
  # Derived: the primers as searched in R1 and in R2.
  r1_primers: '_Primers' = dataclasses.field(
    init=False, repr=False, compare=False
  )
  r2_primers: '_Primers' = dataclasses.field(
    init=False, repr=False, compare=False
  )

  def __post_init__(self):
    for name in ('forward_primer', 'reverse_primer'):
      primer = getattr(self, name)
      if not isinstance(primer, str) or not primer:
        raise ReadQcConfigError(f'{name} must be a non-empty string')
      if set(primer) - set(_BASES):
        raise ReadQcConfigError(
          f'{name}={primer!r} may hold only the bases A, C, G and T'
        )
    _check_int(self, 'sequence_length', 1, None)
    _check_int(self, 'base_quality_threshold', 0, _MAX_QUALITY)
    _check_int(self, 'max_bad_bases', 0, None)
    _check_int(self, 'max_pair_dissimilarity', 0, None)
    _check_int(self, 'max_primer_offset', 0, None)
    shortest = min(len(self.forward_primer), len(self.reverse_primer))
    _check_int(self, 'max_primer_mismatches', 0, shortest - 1)
    _check_int(
      self, 'min_trailing_primer_bases', self.max_primer_mismatches + 1, None
    )
    mean = self.min_mean_quality
    if isinstance(mean, bool) or not isinstance(mean, (int, float)):
      raise ReadQcConfigError('min_mean_quality must be a number')
    if not 0 <= mean <= _MAX_QUALITY:
      raise ReadQcConfigError(
        f'min_mean_quality={mean} must lie in [0, {_MAX_QUALITY}]'
      )
    errors = self.max_expected_errors
    if errors is not None and (
      isinstance(errors, bool)
      or not isinstance(errors, (int, float))
      or not errors >= 0
    ):
      raise ReadQcConfigError(
        f'max_expected_errors={errors!r} must be None or a number >= 0'
      )
    forward, reverse = self.forward_primer, self.reverse_primer
    offset = self.max_primer_offset
    # Frozen dataclass: derived fields are set once, here.
    object.__setattr__(
      self, 'r1_primers', _Primers.make(forward, reverse, offset)
    )
    object.__setattr__(
      self,
      'r2_primers',
      _Primers.make(
        reverse_complement(reverse), reverse_complement(forward), offset
      ),
    )


def _check_int(config, name, low, high):
  value = getattr(config, name)
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ReadQcConfigError(f'{name}={value!r} must be an integer')
  if value < low or (high is not None and value > high):
    bound = f'[{low}, {high}]' if high is not None else f'>= {low}'
    raise ReadQcConfigError(f'{name}={value} must be {bound}')


def _codes(sequence: str) -> np.ndarray:
  return np.frombuffer(sequence.encode('ascii'), np.uint8)


# Reads up to this long take the precomputed-index path; longer ones (rare)
# the general sliding-window one.
_INDEXED_READ_LENGTH = 320
_VALID_BASE = np.zeros(256, bool)
_VALID_BASE[_codes(_BASES)] = True
# Phred score -> error probability, 10^(-Q/10).
_ERROR_PROBABILITY = 10.0 ** (np.arange(_MAX_QUALITY + 1) / -10.0)


@dataclasses.dataclass(frozen=True)
class _Primers:
  """The primers as codes, with gather indices for the primer search."""

  leading_text: str
  leading: np.ndarray
  trailing: np.ndarray
  leading_index: np.ndarray  # [max_offset + 1, len(leading)]
  trailing_index: np.ndarray  # [_INDEXED_READ_LENGTH, len(trailing)]

  @classmethod
  def make(cls, leading: str, trailing: str, max_offset: int) -> '_Primers':
    return cls(
      leading,
      _codes(leading),
      _codes(trailing),
      np.add.outer(np.arange(max_offset + 1), np.arange(len(leading))),
      np.add.outer(np.arange(_INDEXED_READ_LENGTH), np.arange(len(trailing))),
    )


def _leading_mismatches(read: np.ndarray, primers: _Primers) -> np.ndarray:
  """Substitutions of the leading primer at offsets 0..max_primer_offset."""
  index = primers.leading_index
  if len(read) < index[-1, -1] + 1:
    offsets = len(read) - len(primers.leading) + 1
    if offsets <= 0:
      return np.zeros(0, np.int64)
    index = index[:offsets]
  return np.count_nonzero(read[index] != primers.leading, axis=1)


def _trailing_mismatches(
  tail: np.ndarray, primers: _Primers, candidates: int
) -> np.ndarray:
  """Substitutions of the trailing primer at each start in `tail`.

  Bases beyond the tail's end are not compared (zero padding).
  """
  trail = len(primers.trailing)
  padded = np.zeros(len(tail) + trail, np.uint8)
  padded[: len(tail)] = tail
  if candidates <= _INDEXED_READ_LENGTH:
    windows = padded[primers.trailing_index[:candidates]]
  else:
    windows = np.lib.stride_tricks.sliding_window_view(padded, trail)
    windows = windows[:candidates]
  return np.count_nonzero(
    (windows != primers.trailing) & (windows != 0), axis=1
  )


def _locate(
  sequence: str, primers: _Primers, config
) -> Union[Fate, Tuple[int, int]]:
  """(start, end) of the region in the read, or the fate that ends it."""
  lead = len(primers.leading)
  if sequence.startswith(primers.leading_text):
    # Fast path: an exact primer at offset 0 is the best match there is.
    start = lead
    read = None
  else:
    read = _codes(sequence)
    mismatches = _leading_mismatches(read, primers)
    if not mismatches.size:
      return Fate.NO_PRIMER
    best = int(np.argmin(mismatches))
    if mismatches[best] > config.max_primer_mismatches:
      return Fate.NO_PRIMER
    start = best + lead
  candidates = len(sequence) - start - config.min_trailing_primer_bases + 1
  if candidates <= 0:
    return Fate.NO_PRIMER
  tail = _codes(sequence[start:]) if read is None else read[start:]
  mismatches = _trailing_mismatches(tail, primers, candidates)
  found = mismatches <= config.max_primer_mismatches
  if not found.any():
    return Fate.NO_PRIMER
  return start, start + int(np.argmax(found))


def _length_fate(start: int, end: int, config) -> Optional[Fate]:
  length = end - start
  if length < config.sequence_length:
    return Fate.TOO_SHORT
  if length > config.sequence_length:
    return Fate.TOO_LONG
  return None


def _region_fate(bases: np.ndarray, quality: np.ndarray, config) -> Fate:
  """Steps 4 and 5 on a region of the right length."""
  if not _VALID_BASE[bases].all():
    return Fate.HAS_N
  bad = np.count_nonzero(quality < config.base_quality_threshold)
  if bad > config.max_bad_bases:
    return Fate.LOW_QUALITY
  if quality.mean() < config.min_mean_quality:
    return Fate.LOW_QUALITY
  limit = config.max_expected_errors
  if limit is not None and _ERROR_PROBABILITY[quality].sum() > limit:
    return Fate.LOW_QUALITY
  return Fate.OKAY


def _quality(quality: str) -> np.ndarray:
  """Phred+33 scores as int16 (records.phred_scores' checks, but faster)."""
  scores = np.frombuffer(quality.encode('ascii'), np.uint8).astype(np.int16)
  scores -= records.PHRED_OFFSET
  if scores.size and scores.min() < 0:
    records.phred_scores(quality)  # Raises, naming the character.
  return scores


def classify_read(
  sequence: str, quality: str, config: ReadQcConfig
) -> Tuple[Fate, Optional[str]]:
  """The fate of one forward (R1) read and its region when OKAY.

  Args:
    sequence: the read's bases (lower case is taken as upper case).
    quality: its Phred+33 quality string.
    config: the filters.

  Returns:
    (fate, the variable region, or None unless fate is OKAY).
  """
  sequence = sequence.upper()
  located = _locate(sequence, config.r1_primers, config)
  if isinstance(located, Fate):
    return located, None
  start, end = located
  fate = _length_fate(start, end, config)
  if fate is not None:
    return fate, None
  region = sequence[start:end]
  fate = _region_fate(_codes(region), _quality(quality[start:end]), config)
  return fate, (region if fate is Fate.OKAY else None)


def consensus(
  bases1: np.ndarray,
  quality1: np.ndarray,
  bases2: np.ndarray,
  quality2: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray, int]:
  """The consensus of two aligned regions on the same strand.

  Args:
    bases1: [L] uint8 ASCII bases of R1's region.
    quality1: [L] its qualities.
    bases2: [L] bases of revcomp(R2)'s region.
    quality2: [L] its qualities (reversed to match).

  Returns:
    (bases, qualities, number of disagreements); see the module docstring.
  """
  q1 = quality1.astype(np.int16)
  q2 = quality2.astype(np.int16)
  agree = bases1 == bases2
  bases = np.where(q2 > q1, bases2, bases1)
  quality = np.where(agree, np.maximum(q1, q2), np.abs(q1 - q2))
  return bases, quality, int(np.count_nonzero(~agree))


def classify_pair(
  sequence1: str,
  quality1: str,
  sequence2: str,
  quality2: str,
  config: ReadQcConfig,
) -> Tuple[Fate, Optional[str]]:
  """The fate of a read pair and its consensus region when OKAY.

  Args:
    sequence1: R1's bases (the region's strand).
    quality1: R1's Phred+33 qualities.
    sequence2: R2's bases (the other strand, read from the other end).
    quality2: R2's Phred+33 qualities.
    config: the filters.

  Returns:
    (fate, the consensus region, or None unless fate is OKAY).
  """
  sequence1 = sequence1.upper()
  sequence2 = sequence2.upper()
  located1 = _locate(sequence1, config.r1_primers, config)
  if isinstance(located1, Fate):
    return located1, None
  fate = _length_fate(*located1, config)
  if fate is not None:
    return fate, None
  located2 = _locate(sequence2, config.r2_primers, config)
  if isinstance(located2, Fate):
    return located2, None
  fate = _length_fate(*located2, config)
  if fate is not None:
    return fate, None
  start1, end1 = located1
  start2, end2 = located2
  bases, quality, disagreements = consensus(
    _codes(sequence1[start1:end1]),
    _quality(quality1[start1:end1]),
    _codes(reverse_complement(sequence2[start2:end2])),
    _quality(quality2[start2:end2])[::-1],
  )
  if disagreements > config.max_pair_dissimilarity:
    return Fate.BAD_PAIR, None
  fate = _region_fate(bases, quality, config)
  if fate is not Fate.OKAY:
    return fate, None
  return fate, bases.tobytes().decode('ascii')


# Batches: the same rules over many reads of one length at once (one numpy
# operation per rule instead of a dozen small ones per read).
class ReadQcBatchError(ValueError):
  """A read of a batch cannot be classified (e.g. a non-Phred+33 quality).

  Attributes:
    index: the read's (or pair's) position in the batch, from 0.
  """

  def __init__(self, message: str, index: int):
    super().__init__(message)
    self.index = index


_FATE_CODE = {fate: code for code, fate in enumerate(FATES)}
_OKAY = _FATE_CODE[Fate.OKAY]
_NO_PRIMER = _FATE_CODE[Fate.NO_PRIMER]
_TOO_SHORT = _FATE_CODE[Fate.TOO_SHORT]
_TOO_LONG = _FATE_CODE[Fate.TOO_LONG]
_HAS_N = _FATE_CODE[Fate.HAS_N]
_LOW_QUALITY = _FATE_CODE[Fate.LOW_QUALITY]
_BAD_PAIR = _FATE_CODE[Fate.BAD_PAIR]
_UNDECIDED = -1
_COMPLEMENT_CODES = np.arange(256, dtype=np.uint8)
_COMPLEMENT_CODES[_codes('ACGTNacgtn')] = _codes('TGCANtgcan')
# Quality characters the batch path takes; any other goes to the per-read
# path, which raises (or not) exactly as classify_read does.
_PHRED_CHARACTER = np.zeros(256, bool)
_PHRED_CHARACTER[records.PHRED_OFFSET : 127] = True


def _matrix(rows: Sequence[bytes], length: int) -> np.ndarray:
  """[len(rows), length] uint8 codes of byte strings of that length."""
  return np.frombuffer(b''.join(rows), np.uint8).reshape(len(rows), length)


def _locate_batch(reads: np.ndarray, primers: _Primers, config):
  """_locate for every row: (fate code or _UNDECIDED, start, end)."""
  count, length = reads.shape
  lead = len(primers.leading)
  fates = np.full(count, _NO_PRIMER, np.int8)
  start = np.zeros(count, np.int64)
  end = np.zeros(count, np.int64)
  offsets = min(config.max_primer_offset + 1, length - lead + 1)
  # Absolute trailing-primer starts: from the earliest region start to the
  # last one that leaves min_trailing_primer_bases to compare.
  first, last = lead, length - config.min_trailing_primer_bases
  if offsets <= 0 or last < first:
    return fates, start, end
  # Position-major, so that each step is one pass over contiguous memory
  # rather than a short inner loop per read.
  columns = np.ascontiguousarray(reads.T)
  leading = np.empty((offsets, count), np.uint8)
  for offset in range(offsets):
    window = columns[offset : offset + lead]
    np.sum(
      window != primers.leading[:, None],
      axis=0,
      dtype=np.uint8,
      out=leading[offset],
    )
  best = np.argmin(leading, axis=0)
  primed = leading[best, np.arange(count)] <= config.max_primer_mismatches
  start = best + lead
  primed &= start <= last
  positions = last - first + 1
  mismatches = np.zeros((positions, count), np.uint8)
  differs = np.empty((positions, count), bool)
  for k, base in enumerate(primers.trailing.tolist()):
    # Primer bases beyond the read's end are not compared (the caller sends
    # reads holding a NUL byte, which _locate also skips, per read).
    width = min(positions, length - first - k)
    if width <= 0:
      break
    rows = columns[first + k : first + k + width]
    np.not_equal(rows, base, out=differs[:width])
    mismatches[:width] += differs[:width].view(np.uint8)
  found = mismatches <= config.max_primer_mismatches
  found &= np.arange(first, last + 1)[:, None] >= start
  primed &= found.any(axis=0)
  end = first + np.argmax(found, axis=0)
  fates[primed] = _UNDECIDED
  return fates, start, end


def _length_fates(fates, start, end, config) -> None:
  """Sets TOO_SHORT / TOO_LONG on undecided rows (in place)."""
  length = end - start
  open_ = fates == _UNDECIDED
  fates[open_ & (length < config.sequence_length)] = _TOO_SHORT
  fates[open_ & (length > config.sequence_length)] = _TOO_LONG


def _gather(
  matrix: np.ndarray, rows: np.ndarray, start: np.ndarray, length: int
) -> np.ndarray:
  """[len(rows), length]: matrix[row, start[row]:][:length] of each row."""
  flat = rows * matrix.shape[1] + start[rows]
  return np.take(matrix.ravel(), flat[:, None] + np.arange(length))


def _region_fates(bases: np.ndarray, quality: np.ndarray, config) -> np.ndarray:
  """_region_fate for every row of [n, L] bases and int16 qualities."""
  fates = np.full(len(bases), _OKAY, np.int8)
  low = np.count_nonzero(quality < config.base_quality_threshold, axis=1)
  low = low > config.max_bad_bases
  low |= quality.mean(axis=1) < config.min_mean_quality
  limit = config.max_expected_errors
  if limit is not None:
    low |= _ERROR_PROBABILITY[quality].sum(axis=1) > limit
  fates[low] = _LOW_QUALITY
  fates[~_VALID_BASE[bases].all(axis=1)] = _HAS_N
  return fates


def _groups(lengths: Sequence[Tuple[int, ...]]):
  """{length key: row indices} of a batch (usually one key)."""
  if len(set(lengths)) == 1:
    return {lengths[0]: np.arange(len(lengths))}
  out = collections.defaultdict(list)
  for i, key in enumerate(lengths):
    out[key].append(i)
  return {k: np.array(v) for k, v in out.items()}


def _pick(rows: Sequence[bytes], index: np.ndarray, whole: bool):
  return rows if whole else [rows[i] for i in index.tolist()]


def _odd_rows(reads: np.ndarray, qualities: np.ndarray) -> np.ndarray:
  """Rows for the per-read path: a NUL base or a non-Phred+33 quality."""
  odd = np.zeros(len(reads), bool)
  if qualities.size and (
    qualities.min() < records.PHRED_OFFSET or qualities.max() > 126
  ):
    odd |= ~_PHRED_CHARACTER[qualities].all(axis=1)
  if reads.size and not reads.all():
    odd |= ~reads.all(axis=1)
  return odd


def classify_reads(
  sequences: Sequence[bytes],
  qualities: Sequence[bytes],
  config: ReadQcConfig,
) -> Tuple[np.ndarray, List[Optional[str]]]:
  """classify_read over a batch of ASCII reads, with identical results.

  Args:
    sequences: the reads' bases as ASCII bytes.
    qualities: their Phred+33 quality strings as ASCII bytes (a read whose
      lengths differ takes the per-read path).
    config: the filters.

  Returns:
    (fate per read as an int8 index into FATES, region per read: the
    region when OKAY, else None).

  Raises:
    ReadQcBatchError: a read classify_read would raise on (the first one);
      its `index` is the read's position in the batch.
  """
  fates = np.empty(len(sequences), np.int8)
  if not sequences:
    return fates, []
  found = np.full(len(sequences), None, object)
  groups = _groups(list(zip(map(len, sequences), map(len, qualities))))
  odd_rows = []
  for (length, quality_length), index in groups.items():
    if quality_length != length:
      odd_rows.extend(index.tolist())
      continue
    whole = len(groups) == 1
    reads = np.frombuffer(
      b''.join(_pick(sequences, index, whole)).upper(), np.uint8
    ).reshape(len(index), length)
    quality = _matrix(_pick(qualities, index, whole), length)
    odd = _odd_rows(reads, quality)
    group, start, end = _locate_batch(reads, config.r1_primers, config)
    _length_fates(group, start, end, config)
    keep = np.flatnonzero((group == _UNDECIDED) & ~odd)
    if keep.size:
      span = config.sequence_length
      bases = _gather(reads, keep, start, span)
      scores = _gather(quality, keep, start, span).astype(np.int16)
      scores -= records.PHRED_OFFSET
      group[keep] = _region_fates(bases, scores, config)
      okay = group[keep] == _OKAY
      found[index[keep[okay]]] = count_table.as_strings(bases[okay])
    fates[index] = group
    odd_rows.extend(index[np.flatnonzero(odd)].tolist())
  regions = found.tolist()
  # In read order, so the error names the first read that has one.
  for i in sorted(odd_rows):
    fate, regions[i] = _classify_one(
      i, classify_read, sequences[i], qualities[i], config
    )
    fates[i] = _FATE_CODE[fate]
  return fates, regions


def _classify_one(index, classify, *args):
  """The per-read path for one read of a batch (bytes made str)."""
  args = [a.decode('ascii') if isinstance(a, bytes) else a for a in args]
  try:
    return classify(*args)
  except ValueError as e:
    raise ReadQcBatchError(str(e), index) from e


def classify_pairs(
  sequences1: Sequence[bytes],
  qualities1: Sequence[bytes],
  sequences2: Sequence[bytes],
  qualities2: Sequence[bytes],
  config: ReadQcConfig,
) -> Tuple[np.ndarray, List[Optional[str]]]:
  """classify_pair over a batch of ASCII read pairs, with identical results.

  Args:
    sequences1: R1's bases as ASCII bytes, one entry per pair.
    qualities1: R1's Phred+33 qualities as bytes.
    sequences2: R2's bases.
    qualities2: R2's qualities.
    config: the filters.

  Returns:
    (fate per pair as an int8 index into FATES, consensus region per pair
    when OKAY, else None).

  Raises:
    ReadQcBatchError: a pair classify_pair would raise on (the first one).
  """
  count = len(sequences1)
  fates = np.empty(count, np.int8)
  if not count:
    return fates, []
  found = np.full(count, None, object)
  lengths = zip(
    map(len, sequences1),
    map(len, qualities1),
    map(len, sequences2),
    map(len, qualities2),
  )
  groups = _groups(list(lengths))
  span = config.sequence_length
  odd_rows = []
  for (
    length1,
    quality1_length,
    length2,
    quality2_length,
  ), index in groups.items():
    if (length1, length2) != (quality1_length, quality2_length):
      odd_rows.extend(index.tolist())
      continue
    whole = len(groups) == 1
    reads1 = np.frombuffer(
      b''.join(_pick(sequences1, index, whole)).upper(), np.uint8
    ).reshape(len(index), length1)
    reads2 = np.frombuffer(
      b''.join(_pick(sequences2, index, whole)).upper(), np.uint8
    ).reshape(len(index), length2)
    quality1 = _matrix(_pick(qualities1, index, whole), length1)
    quality2 = _matrix(_pick(qualities2, index, whole), length2)
    odd = _odd_rows(reads1, quality1) | _odd_rows(reads2, quality2)
    group, start1, end1 = _locate_batch(reads1, config.r1_primers, config)
    _length_fates(group, start1, end1, config)
    open_ = group == _UNDECIDED
    fates2, start2, end2 = _locate_batch(reads2, config.r2_primers, config)
    _length_fates(fates2, start2, end2, config)
    group[open_] = fates2[open_]
    keep = np.flatnonzero((group == _UNDECIDED) & ~odd)
    if keep.size:
      bases1 = _gather(reads1, keep, start1, span)
      scores1 = _gather(quality1, keep, start1, span).astype(np.int16)
      # revcomp(R2's region), its qualities reversed to match.
      bases2 = _COMPLEMENT_CODES[_gather(reads2, keep, start2, span)[:, ::-1]]
      scores2 = _gather(quality2, keep, start2, span)[:, ::-1]
      scores2 = scores2.astype(np.int16)
      scores1 -= records.PHRED_OFFSET
      scores2 -= records.PHRED_OFFSET
      bases, scores, _ = consensus(bases1, scores1, bases2, scores2)
      disagreements = np.count_nonzero(bases1 != bases2, axis=1)
      bad_pair = disagreements > config.max_pair_dissimilarity
      verdict = _region_fates(bases, np.ascontiguousarray(scores), config)
      verdict[bad_pair] = _BAD_PAIR
      group[keep] = verdict
      okay = verdict == _OKAY
      found[index[keep[okay]]] = count_table.as_strings(bases[okay])
    fates[index] = group
    odd_rows.extend(index[np.flatnonzero(odd)].tolist())
  regions = found.tolist()
  for i in sorted(odd_rows):
    fate, regions[i] = _classify_one(
      i,
      classify_pair,
      sequences1[i],
      qualities1[i].decode('ascii'),
      sequences2[i],
      qualities2[i].decode('ascii'),
      config,
    )
    fates[i] = _FATE_CODE[fate]
  return fates, regions


def fates_and_regions(
  fates: np.ndarray, regions: Sequence[Optional[str]]
) -> List[Tuple[Fate, Optional[str]]]:
  """A batch result as classify_read's (Fate, region) tuples."""
  return [(FATES[f], r) for f, r in zip(fates.tolist(), regions)]
