"""Feature names and the pure-TF sequence encodings shared by Transform,
the model and the serving signatures."""

from typing import Dict

import numpy as np
import tensorflow as tf

from components.config import model_options
from components.config import structure as structure_config
from schema import experiment as experiment_lib

ONE_HOT_FEATURE = 'sequence_one_hot'
KMER_FEATURE = 'sequence_kmer_count'
STRUCTURE_LOG_PF_FEATURE = 'structure_log_partition_function'
STRUCTURE_FEATURE = 'structure_features'
# The original's --input_features names -> transformed feature names.
INPUT_FEATURES = {
  'SEQUENCE_ONE_HOT': ONE_HOT_FEATURE,
  'SEQUENCE_KMER_COUNT': KMER_FEATURE,
  'STRUCTURE_PARTITION_FUNCTION': STRUCTURE_LOG_PF_FEATURE,
  'STRUCTURE_FEATURES': STRUCTURE_FEATURE,
}
# The StructureFeatures example features each structure input is built
# from, in column order.
PARTITION_FUNCTION = structure_config.PARTITION_FUNCTION
STRUCTURE_INPUT_COLUMNS = model_options.STRUCTURE_INPUT_COLUMNS
structure_raw_features = model_options.structure_raw_features


def dense_input_widths(input_features, k_max: int) -> Dict[str, int]:
  """Transformed name -> width of each 2-D input, in the model's order.

  The 2-D inputs join the network after the conv stack; the one-hot
  sequence (the conv input) is not among them.
  """
  widths = {}
  if 'SEQUENCE_KMER_COUNT' in input_features:
    widths[KMER_FEATURE] = num_kmers(k_max)
  for name, columns in STRUCTURE_INPUT_COLUMNS.items():
    if name in input_features:
      widths[INPUT_FEATURES[name]] = len(columns)
  return widths


# Evaluation slices, computed in Transform (TFMA slices transformed features).
GC_SLICE = 'gc_content_bucket'
ABUNDANCE_SLICE = 'input_count_bucket'
_GC_EDGES = (0.3, 0.4, 0.5, 0.6)
_GC_LABELS = ('GC <30%', 'GC 30-40%', 'GC 40-50%', 'GC 50-60%', 'GC >=60%')
_COUNT_EDGES = (1, 2, 10)
_COUNT_LABELS = ('0 reads', '1 read', '2-9 reads', '>=10 reads')


def _bucket(values, edges, labels):
  index = tf.zeros_like(values, dtype=tf.int32)
  for edge in edges:
    index += tf.cast(values >= edge, tf.int32)
  return tf.gather(tf.constant(labels), index)


def gc_content_bucket(one_hot: tf.Tensor, sequence_length: int) -> tf.Tensor:
  """GC content of each sequence as a label, e.g. 'GC 40-50%'."""
  per_base = tf.reshape(one_hot, [-1, sequence_length, 4])
  gc = tf.reduce_sum(per_base[:, :, 2:4], axis=[1, 2]) / sequence_length
  return _bucket(gc, _GC_EDGES, _GC_LABELS)


def count_bucket(counts, batch_like: tf.Tensor) -> tf.Tensor:
  """Summed input-round reads as a label (rare vs abundant sequences);
  'no input reads' when the experiment sequenced no input round."""
  if not counts:
    return tf.fill(tf.shape(batch_like)[:1], 'no input reads')
  total = tf.add_n([tf.reshape(tf.cast(c, tf.int64), [-1]) for c in counts])
  return _bucket(total, _COUNT_EDGES, _COUNT_LABELS)


def target_name(key: str, norm: str) -> str:
  """Name of a raw feature normalised by `norm` (a training target)."""
  return f'{key}_xf_{norm.lower()}'


def parent_name(key: str) -> str:
  """Name of the normalised parent-round count of a target read."""
  return key + '_parent_xf'


def affinity_output_name(molecule: str) -> str:
  """Serving-output name of the latent affinity for one molecule."""
  return 'affinity_' + molecule


def _base_index_table() -> np.ndarray:
  # -1 everywhere but the four bases, so tf.one_hot leaves a zero row for
  # anything unexpected instead of silently aliasing it to a base.
  table = np.full(256, -1, np.int32)
  for i, base in enumerate(experiment_lib.DNA_BASES):
    table[ord(base)] = i
  return table


_BASE_INDEX = _base_index_table()


def one_hot_encode(sequences: tf.Tensor, sequence_length: int) -> tf.Tensor:
  """One-hot encodes fixed-length DNA sequences, channels in A,T,G,C order.

  Args:
    sequences: string tensor of any shape [batch, ...] holding one sequence
      per batch element (extra unit dimensions are squeezed).
    sequence_length: the experiment's fixed length; every sequence must have
      exactly this many bytes (the data contract check guarantees it).

  Returns:
    float32 tensor [batch, sequence_length * 4], position-major (position 0's
    A,T,G,C channels first), as the original's [position, channel] layout
    flattened.
  """
  sequences = tf.reshape(sequences, [-1])
  codes = tf.io.decode_raw(sequences, tf.uint8, fixed_length=sequence_length)
  indices = tf.gather(tf.constant(_BASE_INDEX), tf.cast(codes, tf.int32))
  one_hot = tf.one_hot(indices, depth=4, dtype=tf.float32)
  return tf.reshape(one_hot, [-1, sequence_length * 4])


def num_kmers(k_max: int) -> int:
  """4 + 16 + ... + 4^k_max: 340 for the default k_max = 4."""
  return sum(4**k for k in range(1, k_max + 1))


def kmer_null_statistics(sequence_length: int, k_max: int):
  """Mean and std of each k-mer count under the uniform i.i.d. null.

  A k-mer has n = L + 1 - k overlapping positions, each matching with
  probability p = 4^-k: mean n p, std sqrt(n p (1 - p)) (binomial). For
  L = 40, k = 1: mean 10, std 2.739.
  """
  means, stds = [], []
  for k in range(1, k_max + 1):
    n, p = sequence_length + 1 - k, 4.0**-k
    means += [n * p] * 4**k
    stds += [np.sqrt(n * p * (1 - p))] * 4**k
  return np.array(means, np.float32), np.array(stds, np.float32)


def kmer_counts(
  one_hot: tf.Tensor, sequence_length: int, k_max: int
) -> tf.Tensor:
  """Overlapping counts of every k-mer, k = 1..k_max, from the one-hot input.

  Args:
    one_hot: [batch, L * 4] from `one_hot_encode`.
    sequence_length: L.
    k_max: longest k-mer.

  Returns:
    float32 [batch, num_kmers(k_max)], ordered by k then lexicographically
    in A,T,G,C order (A, T, G, C, AA, AT, ...), as the original's
    CountAllDnaKmers.
  """
  one_hot = tf.reshape(one_hot, [-1, sequence_length, 4])
  # Base index per position (-1 where the row is empty: unknown base).
  valid = tf.reduce_max(one_hot, axis=-1) > 0
  base = tf.where(valid, tf.argmax(one_hot, axis=-1, output_type=tf.int32), -1)
  batch = tf.shape(base, out_type=tf.int64)[0]
  rows = tf.range(batch)[:, None]
  counts = []
  for k in range(1, k_max + 1):
    width = sequence_length + 1 - k
    index = tf.zeros_like(base[:, :width])
    ok = tf.ones_like(base[:, :width], dtype=tf.bool)
    for j in range(k):
      window = base[:, j : j + width]
      index = index * 4 + tf.maximum(window, 0)
      ok = tf.logical_and(ok, window >= 0)
    # One segment per (row, k-mer); windows with an unknown base go to one
    # extra segment that is dropped. A segment sum touches each window once,
    # where a one-hot over 4^k k-mers per window cost 4^k (2.7x slower at
    # k = 6, 2.1x at 4).
    size = 4**k
    segment = tf.where(ok, rows * size + tf.cast(index, tf.int64), batch * size)
    summed = tf.math.unsorted_segment_sum(
      tf.ones_like(segment, dtype=tf.float32), segment, batch * size + 1
    )
    counts.append(tf.reshape(summed[:-1], [-1, size]))
  return tf.concat(counts, axis=1)


def standardized_kmer_counts(
  one_hot: tf.Tensor, sequence_length: int, k_max: int
) -> tf.Tensor:
  """k-mer counts standardised against the binomial null."""
  mean, std = kmer_null_statistics(sequence_length, k_max)
  return (kmer_counts(one_hot, sequence_length, k_max) - mean) / std
