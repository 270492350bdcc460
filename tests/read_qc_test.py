"""Tests for components/data/fastq/read_qc.py on hand-made reads."""

import dataclasses
import pickle

import pytest

from components.data.fastq import read_qc
from components.data.fastq.read_qc import Fate

FORWARD = 'ACACGACGCTCTTCCGATCT'
REVERSE = 'AGATCGGAAGAGCACACGTC'
REGION = 'TTGACCATGCAGTACGGTCAAGTCCATGACGTAGCATGCA'
TAIL = 'TGAACTCCAGTCAC'
CONFIG = read_qc.ReadQcConfig(FORWARD, REVERSE)
# The original's filters alone, without the expected-error limit.
ORIGINAL = read_qc.ReadQcConfig(FORWARD, REVERSE, max_expected_errors=None)


def _phred(scores):
  return ''.join(chr(33 + q) for q in scores)


def _r1(region=REGION, region_quality=None, forward=FORWARD, lead=''):
  """R1 = lead + forward + region + reverse + adapter, Q40 but the region."""
  scores = [40] * len(region) if region_quality is None else region_quality
  sequence = lead + forward + region + REVERSE + TAIL
  quality = (
    _phred([40] * len(lead + forward))
    + _phred(scores)
    + _phred([40] * len(REVERSE + TAIL))
  )
  return sequence, quality


def _r2(region=REGION, region_quality=None):
  """R2: the other strand from the other end; region qualities as on R1."""
  scores = [40] * len(region) if region_quality is None else region_quality
  rc = read_qc.reverse_complement
  sequence = rc(FORWARD + region + REVERSE) + 'AGGGAAAGAGTG'
  quality = (
    _phred([40] * len(REVERSE))
    + _phred(scores[::-1])
    + _phred([40] * (len(FORWARD) + 12))
  )
  return sequence, quality


def _mutate(text, positions):
  swap = {'A': 'C', 'C': 'G', 'G': 'T', 'T': 'A'}
  chars = list(text)
  for p in positions:
    chars[p] = swap[chars[p]]
  return ''.join(chars)


def test_clean_read_is_okay_and_returns_the_region():
  assert read_qc.classify_read(*_r1(), CONFIG) == (Fate.OKAY, REGION)
  lower = _r1()[0].lower(), _r1()[1]
  assert read_qc.classify_read(*lower, CONFIG) == (Fate.OKAY, REGION)


def test_forward_primer_mismatches_two_pass_three_fail():
  two = _mutate(FORWARD, [3, 11])
  three = _mutate(FORWARD, [3, 11, 17])
  assert read_qc.classify_read(*_r1(forward=two), CONFIG)[0] is Fate.OKAY
  assert read_qc.classify_read(*_r1(forward=three), CONFIG) == (
    Fate.NO_PRIMER,
    None,
  )


def test_reverse_primer_mismatches_two_pass_three_fail():
  seq, qual = _r1()
  end = len(FORWARD) + len(REGION)
  two = seq[:end] + _mutate(REVERSE, [0, 9]) + TAIL
  three = seq[:end] + _mutate(REVERSE, [0, 9, 15]) + TAIL
  assert read_qc.classify_read(two, qual, CONFIG) == (Fate.OKAY, REGION)
  assert read_qc.classify_read(three, qual, CONFIG)[0] is Fate.NO_PRIMER


def test_primer_offset_window():
  okay = _r1(lead='GAT')  # max_primer_offset = 3
  assert read_qc.classify_read(*okay, CONFIG) == (Fate.OKAY, REGION)
  beyond = _r1(lead='GATC')
  assert read_qc.classify_read(*beyond, CONFIG)[0] is Fate.NO_PRIMER


def test_read_ending_inside_the_reverse_primer():
  seq, qual = _r1()
  end = len(FORWARD) + len(REGION)
  ten, nine = end + 10, end + 9  # min_trailing_primer_bases = 10
  assert read_qc.classify_read(seq[:ten], qual[:ten], CONFIG) == (
    Fate.OKAY,
    REGION,
  )
  assert read_qc.classify_read(seq[:nine], qual[:nine], CONFIG)[0] is (
    Fate.NO_PRIMER
  )


def test_too_short_and_too_long_by_one_base():
  short = _r1(region=REGION[:-1])
  long = _r1(region=REGION + 'A')
  assert read_qc.classify_read(*short, CONFIG) == (Fate.TOO_SHORT, None)
  assert read_qc.classify_read(*long, CONFIG) == (Fate.TOO_LONG, None)


def test_primer_dimer_is_too_short():
  dimer = _r1(region='')
  assert read_qc.classify_read(*dimer, CONFIG) == (Fate.TOO_SHORT, None)


def test_n_in_region():
  region = REGION[:17] + 'N' + REGION[18:]
  assert read_qc.classify_read(*_r1(region), CONFIG) == (Fate.HAS_N, None)


def test_max_bad_bases_pass_one_more_fails():
  five = [40] * 35 + [19] * 5
  six = [40] * 34 + [19] * 6
  assert read_qc.classify_read(*_r1(region_quality=five), CONFIG)[0] is (
    Fate.OKAY
  )
  assert read_qc.classify_read(*_r1(region_quality=six), CONFIG) == (
    Fate.LOW_QUALITY,
    None,
  )
  # Q20 is not bad: threshold is "below base_quality_threshold".
  twenty = [40] * 30 + [20] * 10
  assert read_qc.classify_read(*_r1(region_quality=twenty), CONFIG)[0] is (
    Fate.OKAY
  )


def test_mean_quality_just_above_and_below():
  # All bases >= 20, so only the mean decides: 30.0 passes, 29.975 fails.
  exactly = [30] * 40
  below = [30] * 39 + [29]
  above = [30] * 39 + [31]
  for scores, fate in ((exactly, Fate.OKAY), (above, Fate.OKAY)):
    assert read_qc.classify_read(*_r1(region_quality=scores), CONFIG)[0] is fate
  assert read_qc.classify_read(*_r1(region_quality=below), CONFIG)[0] is (
    Fate.LOW_QUALITY
  )


def test_pair_agreement_keeps_the_max_quality():
  # Each read has 6 bad bases alone; the other read covers them.
  q1 = [10] * 6 + [40] * 34
  q2 = [40] * 34 + [10] * 6
  assert read_qc.classify_read(*_r1(region_quality=q1), CONFIG)[0] is (
    Fate.LOW_QUALITY
  )
  got = read_qc.classify_pair(
    *_r1(region_quality=q1), *_r2(region_quality=q2), CONFIG
  )
  assert got == (Fate.OKAY, REGION)


def test_consensus_disagreement_takes_the_better_base_and_the_difference():
  bases1 = read_qc._codes('ACGT')
  bases2 = read_qc._codes('ACCA')
  q1 = read_qc._quality(_phred([30, 30, 12, 35]))
  q2 = read_qc._quality(_phred([20, 38, 37, 35]))
  bases, quality, disagreements = read_qc.consensus(bases1, q1, bases2, q2)
  assert bases.tobytes() == b'ACCT'  # A tie keeps R1's base.
  assert quality.tolist() == [30, 38, 25, 0]
  assert disagreements == 2


def test_pair_disagreement_higher_quality_read_wins():
  wrong = _mutate(REGION, [5])
  q1 = [40] * 40
  q1[5] = 12
  # R1 is wrong at position 5 with Q12, R2 right with Q40: R2's base wins.
  got = read_qc.classify_pair(*_r1(wrong, q1), *_r2(), CONFIG)
  assert got == (Fate.OKAY, REGION)
  # The other way round: R2 is wrong with low quality.
  got = read_qc.classify_pair(*_r1(), *_r2(wrong, q1), CONFIG)
  assert got == (Fate.OKAY, REGION)


def test_pair_disagreement_quality_is_the_difference():
  # Six disagreements between Q40 and Q35 reads: consensus quality 5 at
  # each, six bad bases -> low_quality, though each read alone is fine.
  positions = [1, 7, 13, 19, 25, 31]
  q2 = [40] * 40
  for p in positions:
    q2[p] = 35
  r2 = _r2(_mutate(REGION, positions), q2)
  config = dataclasses.replace(ORIGINAL, max_pair_dissimilarity=6)
  assert read_qc.classify_pair(*_r1(), *r2, config) == (
    Fate.LOW_QUALITY,
    None,
  )
  five = _r2(_mutate(REGION, positions[:5]), q2)
  assert read_qc.classify_pair(*_r1(), *five, config) == (Fate.OKAY, REGION)
  # By default five coin-flip bases (5 x 10^-0.5 expected errors) fail.
  assert read_qc.classify_pair(*_r1(), *five, CONFIG) == (
    Fate.LOW_QUALITY,
    None,
  )


def test_more_than_max_pair_dissimilarity_is_bad_pair():
  five = _r2(_mutate(REGION, [0, 8, 16, 24, 32]), [40] * 40)
  six = _r2(_mutate(REGION, [0, 8, 16, 24, 32, 39]), [40] * 40)
  q1 = [40] * 40
  assert read_qc.classify_pair(*_r1(region_quality=q1), *five, ORIGINAL)[0] is (
    Fate.OKAY
  )
  assert read_qc.classify_pair(*_r1(), *six, CONFIG) == (Fate.BAD_PAIR, None)


def test_pair_fates_from_either_read():
  assert read_qc.classify_pair(*_r1(REGION[:-1]), *_r2(), CONFIG)[0] is (
    Fate.TOO_SHORT
  )
  assert read_qc.classify_pair(*_r1(), *_r2(REGION + 'G'), CONFIG)[0] is (
    Fate.TOO_LONG
  )
  no_primer = 'T' * 90, 'I' * 90
  assert read_qc.classify_pair(*_r1(), *no_primer, CONFIG)[0] is (
    Fate.NO_PRIMER
  )
  # N in both reads at one position survives the consensus.
  with_n = REGION[:9] + 'N' + REGION[10:]
  q = [40] * 40
  q[9] = 2
  assert read_qc.classify_pair(*_r1(with_n, q), *_r2(with_n, q), CONFIG) == (
    Fate.HAS_N,
    None,
  )
  # N in one read only is outvoted by the other read.
  assert read_qc.classify_pair(*_r1(with_n, q), *_r2(), CONFIG) == (
    Fate.OKAY,
    REGION,
  )


def test_max_expected_errors_is_on_by_default_and_can_be_turned_off():
  q = [40] * 40
  q[3] = 2
  read = _r1(region_quality=q)
  assert CONFIG.max_expected_errors == 0.5
  assert read_qc.classify_read(*read, CONFIG)[0] is Fate.LOW_QUALITY
  assert read_qc.classify_read(*_r1(), CONFIG)[0] is Fate.OKAY
  assert read_qc.classify_read(*read, ORIGINAL)[0] is Fate.OKAY


@pytest.mark.parametrize(
  'changes',
  [
    {'forward_primer': ''},
    {'reverse_primer': 'ACGU'},
    {'sequence_length': 0},
    {'base_quality_threshold': -1},
    {'max_bad_bases': 1.5},
    {'min_mean_quality': 'x'},
    {'max_primer_mismatches': 20},
    {'max_primer_offset': -1},
    {'min_trailing_primer_bases': 2},
    {'max_expected_errors': -1.0},
  ],
)
def test_config_validation(changes):
  fields = {'forward_primer': FORWARD, 'reverse_primer': REVERSE, **changes}
  with pytest.raises(read_qc.ReadQcConfigError, match=next(iter(changes))):
    read_qc.ReadQcConfig(**fields)


def test_config_defaults_and_pickling():
  assert (
    CONFIG.sequence_length,
    CONFIG.base_quality_threshold,
    CONFIG.max_bad_bases,
    CONFIG.min_mean_quality,
    CONFIG.max_pair_dissimilarity,
    CONFIG.max_primer_mismatches,
  ) == (40, 20, 5, 30.0, 5, 2)
  copy = pickle.loads(pickle.dumps(CONFIG))
  assert copy == CONFIG
  assert read_qc.classify_read(*_r1(), copy) == (Fate.OKAY, REGION)


def test_read_stats_merge_format_and_pass_rate_check():
  from components.data.fastq import read_stats

  lane1 = read_stats.ReadStats('L001.fq.gz')
  lane1.add(Fate.OKAY, 3)
  lane1.add(Fate.NO_PRIMER, 1)
  lane2 = read_stats.ReadStats('L002.fq.gz')
  lane2.add(Fate.NO_PRIMER, 200)
  lane2.add(Fate.TOO_SHORT, 7)
  merged = lane1.merge(lane2)
  assert merged.source == 'L001.fq.gz, L002.fq.gz'
  assert merged.as_dict() == {
    'source': 'L001.fq.gz, L002.fq.gz',
    'total': 211,
    'okay': 3,
    'no_primer': 201,
    'too_short': 7,
    'too_long': 0,
    'has_n': 0,
    'low_quality': 0,
    'bad_pair': 0,
  }
  assert '| no_primer | 201 | 95.26 |' in merged.to_markdown()
  assert 'too_short' in merged.to_console()
  read_stats.check_pass_rate(lane1)  # 75% okay.
  with pytest.raises(read_stats.LowPassRateError) as caught:
    read_stats.check_pass_rate(merged)
  message = str(caught.value)
  assert 'L002.fq.gz' in message and 'no_primer' in message
  assert '3 of 211' in message
  with pytest.raises(read_stats.LowPassRateError, match='empty.fq'):
    read_stats.check_pass_rate(read_stats.ReadStats('empty.fq'))
