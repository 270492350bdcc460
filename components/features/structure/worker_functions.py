"""What StructureFeatures' Beam workers run: parse, fold, join back.

Kept apart from the executor so that a worker imports Beam, ViennaRNA and
protobuf only: the executor's TFX and TensorFlow imports took each worker
about 7.5 s to start, against 2.7 s for Beam alone (see
benchmarks/RESULTS.md). Nothing here may import tensorflow or tfx.
"""

import logging
import time
from typing import Dict
from typing import List
from typing import Sequence
from typing import Tuple

import apache_beam as beam
from apache_beam.metrics import metric

from components.features.structure import folding
from schema import example_proto

# Beam counters, also set as int custom properties of the output artifact.
METRICS_NAMESPACE = 'structure_features'
EXAMPLES_COUNTER = 'examples'
UNIQUE_COUNTER = 'unique_sequences'
CACHE_HITS_COUNTER = 'cache_hits'
FOLDED_COUNTER = 'folded'
COUNTERS = (
  EXAMPLES_COUNTER,
  UNIQUE_COUNTER,
  CACHE_HITS_COUNTER,
  FOLDED_COUNTER,
)

# Each worker logs its progress every this many folded sequences.
PROGRESS_EVERY = 10000

# CoGroupByKey tags and the tagged output of newly folded sequences.
EXAMPLES_TAG = 'examples'
CACHED_TAG = 'cached'
NEW_CACHE_TAG = 'new_cache'


class StructureFeaturesError(ValueError):
  """Bad input examples or parameters; the message names the culprit."""


def key_by_sequence(
  serialized: bytes,
  split: str,
  split_index: int,
  sequence_feature: str,
  features: Sequence[str] = folding.FEATURES,
) -> Tuple[str, Tuple[int, bytes]]:
  """(sequence, (split index, serialized example)); checks the sequence.

  `features` are those folding adds: the example must not have them.
  """
  example = example_proto.Example.FromString(serialized)
  feature_map = example.features.feature
  values = (
    feature_map[sequence_feature].bytes_list.value
    if sequence_feature in feature_map
    else []
  )
  if len(values) != 1:
    raise StructureFeaturesError(
      f"split '{split}': an example has no single bytes feature "
      f"'{sequence_feature}' (got {len(values)} values): {str(example)[:200]}"
    )
  sequence = values[0].decode('ascii', 'replace')
  for name in features:
    if name in feature_map:
      raise StructureFeaturesError(
        f"split '{split}': the example of sequence {sequence!r} already has "
        f"a feature '{name}', which folding computes itself (it is on "
        'because of --structure_features, a STRUCTURE_ input or a structure '
        'feature in --additional_output); rename your feature to use it as '
        'an additional output, or remove it to use the folded value'
      )
  try:
    folding.check_sequence(sequence)
  except folding.FoldingError as e:
    raise StructureFeaturesError(f"split '{split}': {e}") from e
  return sequence, (split_index, serialized)


def _features_only(features: Dict[str, float]) -> example_proto.Example:
  example = example_proto.Example()
  feature_map = example.features.feature
  for name, value in features.items():
    feature_map[name].float_list.value.append(value)
  return example


def features_record(sequence: str, features: Dict[str, float]) -> bytes:
  """A cache record: a tf.Example of the sequence and its features."""
  example = _features_only(features)
  example.features.feature['sequence'].bytes_list.value.append(
    sequence.encode()
  )
  return example.SerializeToString()


def parse_features_record(
  serialized: bytes, features: Sequence[str] = folding.FEATURES
) -> Tuple[str, Dict[str, float]]:
  """(sequence, `features`) of a cache record.

  A cache folder holds the records of one set of folding parameters, the
  features included (its name is their fingerprint), so every record has
  them all.
  """
  feature_map = example_proto.Example.FromString(serialized).features.feature
  sequence = feature_map['sequence'].bytes_list.value[0].decode()
  return sequence, {
    name: feature_map[name].float_list.value[0] for name in features
  }


class AddStructureFeatures(beam.DoFn):
  """Per unique sequence: features from the cache or ViennaRNA, joined back.

  Outputs (split index, serialized example with the features) for every
  example of the sequence, and (sequence, features) on `NEW_CACHE_TAG` for
  each sequence it folded.
  """

  def __init__(
    self, parameters: folding.FoldingParameters, split_names: List[str]
  ):
    self._parameters = parameters
    self._split_names = split_names
    self._examples = metric.Metrics.counter(METRICS_NAMESPACE, EXAMPLES_COUNTER)
    self._unique = metric.Metrics.counter(METRICS_NAMESPACE, UNIQUE_COUNTER)
    self._hits = metric.Metrics.counter(METRICS_NAMESPACE, CACHE_HITS_COUNTER)
    self._folded = metric.Metrics.counter(METRICS_NAMESPACE, FOLDED_COUNTER)

  def setup(self):
    # The parameter set is process-global in ViennaRNA: load it in this
    # worker, whatever the launching process did.
    folding.prepare(self._parameters)
    self._folded_here = 0
    self._started = time.monotonic()

  def _log_progress(self):
    # Counters reach the launcher only at the end; folding a large library
    # takes minutes, so each worker says how far it is.
    self._folded_here += 1
    if self._folded_here % PROGRESS_EVERY == 0:
      elapsed = time.monotonic() - self._started
      logging.info(
        'StructureFeatures worker: folded %d sequences in %.0f s '
        '(%.0f sequences/s)',
        self._folded_here,
        elapsed,
        self._folded_here / max(elapsed, 1e-9),
      )

  def _features(self, sequence, cached, split_index):
    for features in cached:  # Any copy: shards may overlap.
      self._hits.inc()
      return features, False
    try:
      features = folding.fold(sequence, self._parameters)
    except folding.FoldingError as e:
      split = self._split_names[split_index]
      raise StructureFeaturesError(f"split '{split}': {e}") from e
    self._folded.inc()
    self._log_progress()
    return features, True

  def process(self, element):
    sequence, groups = element
    suffix = None
    for split_index, serialized in groups[EXAMPLES_TAG]:
      if suffix is None:
        features, folded = self._features(
          sequence, groups[CACHED_TAG], split_index
        )
        self._unique.inc()
        if folded:
          yield beam.pvalue.TaggedOutput(NEW_CACHE_TAG, (sequence, features))
        suffix = _features_only(features).SerializeToString()
      # Parsing concatenated messages merges them (the protobuf encoding
      # guarantees it): the example gains the features without a
      # field-by-field copy; re-serialising writes one clean message.
      # key_by_sequence made sure none of them was there already.
      merged = example_proto.Example.FromString(serialized + suffix)
      self._examples.inc()
      yield split_index, merged.SerializeToString()
