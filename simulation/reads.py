"""FASTQ reads of one sequenced pool, with Illumina-like errors and the truth.

`write_pool_reads` turns true per-sequence read counts (e.g. a pool's
`selection.sequence` counts) into gzip FASTQ, single- or paired-end. Each
read is one molecule: insert = forward_primer + region + reverse_primer,
read from its start (R1) and, for pairs, its reverse complement read from
the other end (R2); a read longer than its insert runs into the adapter
(then poly-G, the colour of "no signal"). Defects of the molecule:

- primer dimers: no variable region (insert = forward + reverse primer);
- indels: each insert base is deleted or gets a base inserted after it
  with probability indel_rate (PCR and synthesis errors: both mates see it);
- mismatched pairs: R2 comes from another molecule of the pool.

Sequencing: each base's Phred quality falls along the read (high at the
start, decaying faster toward the end, with per-base noise); about 1% of
bases are bad cycles of low quality, a share of which are called N (Q2);
every other base is replaced by another base with the probability its
quality states, p = 10^(-Q/10), so the qualities are calibrated.

The output is a pure function of the inputs and the rng's state.
"""

import dataclasses
import gzip
from typing import Mapping
from typing import Optional
from typing import Tuple

import numpy as np

_BASES = np.frombuffer(b'ACGT', np.uint8)
_BASE_INDEX = np.full(256, 255, np.uint8)
_BASE_INDEX[_BASES] = np.arange(4, dtype=np.uint8)
_COMPLEMENT = np.arange(256, dtype=np.uint8)
_COMPLEMENT[_BASES] = np.frombuffer(b'TGCA', np.uint8)
_N = ord('N')
# Adapter read-through after each read's insert (TruSeq, after the parts the
# design's primers already hold).
R1_ADAPTER = 'TGAACTCCAGTCACATCTCGTATGCCGTCTTCTGCTTG'
R2_ADAPTER = 'AGGGAAAGAGTGTAGATCTCGGTGGTCGCCGTATCATT'
DEFECTS = ('none', 'indel', 'dimer', 'mismatched_pair')


class ReadSimulationError(ValueError):
  """Invalid counts, primers or error model."""


@dataclasses.dataclass(frozen=True)
class ErrorModel:
  """Illumina-like sequencing of one pool.

  Attributes:
    read_length: bases per read (each mate).
    start_quality: mean quality at the first cycle.
    end_quality: mean quality at the last cycle.
    decay_power: shape of the fall (1 linear; larger stays high longer).
    quality_sd: per-base noise of the quality (rounded, clipped).
    max_quality: the highest score reported (41: Illumina 1.8+, 'J').
    bad_base_fraction: share of bases that are bad cycles.
    bad_quality_range: (low, high) inclusive quality of a bad cycle.
    n_fraction: share of bad cycles called N, with quality 2.
    indel_rate: per insert base, the chance of an indel in the molecule.
    dimer_fraction: share of molecules that are primer dimers.
    mismatched_pair_fraction: share of pairs whose R2 is another molecule.
  """

  read_length: int = 100
  start_quality: float = 40.0
  end_quality: float = 30.0
  decay_power: float = 3.0
  quality_sd: float = 1.5
  max_quality: int = 41
  bad_base_fraction: float = 0.01
  bad_quality_range: Tuple[int, int] = (2, 15)
  n_fraction: float = 0.05
  indel_rate: float = 5e-5
  dimer_fraction: float = 0.005
  mismatched_pair_fraction: float = 0.002

  def __post_init__(self):
    if self.read_length < 1:
      raise ReadSimulationError('read_length must be >= 1')
    low, high = self.bad_quality_range
    if not 0 <= low <= high <= self.max_quality <= 93:
      raise ReadSimulationError(
        'need 0 <= bad_quality_range[0] <= bad_quality_range[1] <= '
        'max_quality <= 93'
      )
    for name in (
      'bad_base_fraction',
      'n_fraction',
      'indel_rate',
      'dimer_fraction',
      'mismatched_pair_fraction',
    ):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ReadSimulationError(f'{name} must lie in [0, 1]')
    if self.dimer_fraction + self.mismatched_pair_fraction > 1.0:
      raise ReadSimulationError(
        'dimer_fraction + mismatched_pair_fraction must be <= 1'
      )


@dataclasses.dataclass(frozen=True)
class ReadTruth:
  """What each written read (pair) really was, in file order.

  Attributes:
    region: the true variable region of R1's molecule ('' for a dimer).
    defect: [num_reads] index into DEFECTS.
  """

  region: Tuple[str, ...]
  defect: np.ndarray

  @property
  def clean(self) -> np.ndarray:
    """[num_reads] bool: written without an insert defect."""
    return self.defect == 0


def _codes(text: str) -> np.ndarray:
  return np.frombuffer(text.encode('ascii'), np.uint8)


def _revcomp(rows: np.ndarray) -> np.ndarray:
  return _COMPLEMENT[rows][..., ::-1]


def _reads_from(inserts, adapter, read_length):
  """[n, read_length]: each insert, then adapter, then poly-G."""
  tail = np.concatenate(
    [_codes(adapter), np.full(read_length, ord('G'), np.uint8)]
  )
  tails = np.broadcast_to(tail, (len(inserts), len(tail)))
  return np.concatenate([inserts, tails], axis=1)[:, :read_length]


def _one_read(insert: bytes, adapter: str, read_length: int) -> np.ndarray:
  text = insert + adapter.encode('ascii') + b'G' * read_length
  return np.frombuffer(text[:read_length], np.uint8)


def _indel(insert: bytes, rng: np.random.Generator) -> bytes:
  """One deletion or insertion at a uniform position of the insert."""
  position = int(rng.integers(len(insert)))
  if rng.random() < 0.5:
    return insert[:position] + insert[position + 1 :]
  base = bytes([_BASES[rng.integers(4)]])
  return insert[: position + 1] + base + insert[position + 1 :]


def _sequence(reads: np.ndarray, model: ErrorModel, rng) -> Tuple:
  """Qualities, Ns and quality-calibrated substitutions for [n, L] reads."""
  n, length = reads.shape
  cycle = np.arange(length) / max(length - 1, 1)
  mean = (
    model.start_quality
    - (model.start_quality - model.end_quality) * cycle**model.decay_power
  )
  quality = np.rint(mean + rng.normal(0.0, model.quality_sd, (n, length)))
  quality = np.clip(quality, 2, model.max_quality).astype(np.uint8)
  bad = rng.random((n, length)) < model.bad_base_fraction
  low, high = model.bad_quality_range
  quality[bad] = rng.integers(low, high + 1, np.count_nonzero(bad))
  called_n = bad & (rng.random((n, length)) < model.n_fraction)
  error = rng.random((n, length)) < 10.0 ** (quality / -10.0)
  error &= ~called_n
  index = _BASE_INDEX[reads[error]]
  shift = rng.integers(1, 4, len(index)).astype(np.uint8)
  out = reads.copy()
  out[error] = _BASES[(index + shift) % 4]
  out[called_n] = _N
  quality[called_n] = 2
  return out, quality


def _write(path: str, reads: np.ndarray, quality: np.ndarray, mate: int):
  """gzip FASTQ with ids `sim:<n> <mate>:N:0`; mtime 0 for stable bytes."""
  length = reads.shape[1]
  bases = reads.tobytes()
  scores = (quality + 33).astype(np.uint8).tobytes()
  chunks = []
  for i in range(len(reads)):
    lo, hi = i * length, (i + 1) * length
    chunks.append(
      b'@sim:%d %d:N:0\n%s\n+\n%s\n'
      % (i + 1, mate, bases[lo:hi], scores[lo:hi])
    )
  with open(path, 'wb') as raw:
    with gzip.GzipFile('', 'wb', 3, raw, mtime=0) as f:
      f.write(b''.join(chunks))


def write_pool_reads(
  counts: Mapping[str, int],
  forward_primer: str,
  reverse_primer: str,
  rng: np.random.Generator,
  r1_path: str,
  r2_path: Optional[str] = None,
  model: ErrorModel = ErrorModel(),
) -> ReadTruth:
  """Writes a pool's reads (in random order) and returns their truth.

  Args:
    counts: sequence -> true read count; all sequences one length, ACGT.
    forward_primer: on the region's strand.
    reverse_primer: on the region's strand.
    rng: the only source of randomness.
    r1_path: the R1 file (gzip FASTQ).
    r2_path: the R2 file for paired-end reads; None for single-end.
    model: the error model.

  Returns:
    ReadTruth, one entry per read (pair) in file order.

  Raises:
    ReadSimulationError: bad counts or primers.
  """
  sequences = [s for s, c in counts.items() if c > 0]
  if any(c < 0 for c in counts.values()):
    raise ReadSimulationError('read counts must be >= 0')
  if not sequences:
    raise ReadSimulationError('the pool has no reads')
  lengths = {len(s) for s in sequences}
  if len(lengths) != 1:
    raise ReadSimulationError(f'sequences have several lengths: {lengths}')
  for text in sequences + [forward_primer, reverse_primer]:
    if not text or set(text) - set('ACGT'):
      raise ReadSimulationError(f'{text!r} is not a sequence over ACGT')
  member = np.repeat(np.arange(len(sequences)), [counts[s] for s in sequences])
  member = rng.permutation(member)
  n = len(member)
  library = np.frombuffer(''.join(sequences).encode('ascii'), np.uint8)
  library = library.reshape(len(sequences), -1)
  forward, reverse = _codes(forward_primer), _codes(reverse_primer)
  inserts = np.concatenate(
    [
      np.broadcast_to(forward, (n, len(forward))),
      library[member],
      np.broadcast_to(reverse, (n, len(reverse))),
    ],
    axis=1,
  )
  length = model.read_length
  r1 = _reads_from(inserts, R1_ADAPTER, length)
  r2 = _reads_from(_revcomp(inserts), R2_ADAPTER, length)

  defect = np.zeros(n, np.int64)
  kind = rng.random(n)
  defect[kind < model.dimer_fraction] = DEFECTS.index('dimer')
  if r2_path is not None:
    mismatched = (kind >= model.dimer_fraction) & (
      kind < model.dimer_fraction + model.mismatched_pair_fraction
    )
    defect[mismatched] = DEFECTS.index('mismatched_pair')
  indels = rng.binomial(inserts.shape[1], model.indel_rate, n) > 0
  defect[indels & (defect == 0)] = DEFECTS.index('indel')
  dimer = _codes(forward_primer + reverse_primer).tobytes()
  for i in np.flatnonzero((defect == 1) | (defect == 2)):
    insert = dimer if defect[i] == 2 else _indel(inserts[i].tobytes(), rng)
    r1[i] = _one_read(insert, R1_ADAPTER, length)
    revcomp = _revcomp(np.frombuffer(insert, np.uint8)).tobytes()
    r2[i] = _one_read(revcomp, R2_ADAPTER, length)
  mates = np.flatnonzero(defect == 3)
  if mates.size:
    others = (mates + rng.integers(1, max(n, 2), mates.size)) % n
    r2[mates] = _reads_from(_revcomp(inserts[others]), R2_ADAPTER, length)

  region = tuple(
    '' if d == 2 else sequences[m] for d, m in zip(defect.tolist(), member)
  )
  reads, quality = _sequence(r1, model, rng)
  _write(r1_path, reads, quality, 1)
  if r2_path is not None:
    reads, quality = _sequence(r2, model, rng)
    _write(r2_path, reads, quality, 2)
  return ReadTruth(region, defect)
