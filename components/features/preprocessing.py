"""Transform's preprocessing: sequence encodings and normalised targets.

Everything here is pure TF so the transform graph is servable: the serving
signature feeds raw sequences through it. Every normalisation statistic is a
Transform analyzer, computed over the training split only (Transform's
default `analyze` split), as the original computed them over training folds.
"""

from typing import Any
from typing import Dict
from typing import Sequence

import tensorflow as tf
import tensorflow_transform as tft

from components.config import structure as structure_config
from components.config import transform_config
from components.features import binding_evidence
from components.features import encodings
from components.features import normalizers

# Additional outputs with a plain z-score; every other is normalised like
# the counts (see `components.config.structure.LINEAR_FEATURES`).
LINEAR_ADDITIONAL_OUTPUTS = structure_config.LINEAR_FEATURES


def structure_input(
  inputs: Dict[str, tf.Tensor], columns: Sequence[str]
) -> tf.Tensor:
  """[batch, len(columns)] z-scored structure features, a model input.

  Each column is z-scored with its training-split mean and std. The
  partition function enters as log Z (= -G/kT), the original's
  STRUCTURE_PARTITION_FUNCTION encoding: Z spans orders of magnitude, and
  log(1 + Z) would squash the many sequences with Z near 1. The energies,
  the MFE probability and the diversity are used as they are.
  """
  missing = [c for c in columns if c not in inputs]
  if missing:
    raise ValueError(
      f'structure inputs need the features {missing}, which the examples '
      f'lack (features: {sorted(inputs)}); run StructureFeatures first'
    )
  scaled = []
  for column in columns:
    values = tf.reshape(tf.cast(inputs[column], tf.float32), [-1])
    if column == encodings.PARTITION_FUNCTION:
      # Z >= 1 for any folded sequence (the open chain alone gives 1).
      values = tf.math.log(tf.maximum(values, 1e-30))
    scaled.append(tft.scale_to_z_score(values))
  return tf.stack(scaled, axis=1)


def preprocessing_fn(
  inputs: Dict[str, tf.Tensor], custom_config: Dict[str, Any]
) -> Dict[str, tf.Tensor]:
  """Maps raw examples to model inputs and targets.

  Args:
    inputs: raw features parsed with the experiment's schema; scalars arrive
      as [batch, 1] dense tensors.
    custom_config: a serialised `components.config.transform_config.
      TransformConfig` (sequence length, targets, inputs, normalisers).

  Returns:
    `sequence_one_hot` [batch, L*4] and, if requested,
    `sequence_kmer_count` [batch, 340], `structure_log_partition_function`
    [batch, 1] and `structure_features` [batch, 5]; per target
    `<read>_xf_<norm>` for each normaliser of `target_norms`, `<read>` (raw
    counts, the evaluation labels) and `<read>_parent_xf` (the parent
    round's count, normalised by `dependency_norm`, 0 where the round's
    input was not sequenced); per additional output `<name>_xf_<norm>` and
    `<name>`; `cluster`; the evaluation slice keys `gc_content_bucket` and `input_count_bucket`; and,
    per molecule of `binding_evidence`, its evidence features (per-round
    hits, stringency bucket and log-enrichment, named by
    `components.features.binding_evidence`), the evaluation's affinity
    labels.
  """
  config = transform_config.TransformConfig.from_custom_config(custom_config)
  length = config.sequence_length
  one_hot = encodings.one_hot_encode(inputs['sequence'], length)
  outputs = {
    encodings.ONE_HOT_FEATURE: one_hot,
    'cluster': tf.reshape(inputs['cluster'], [-1]),
  }
  outputs[encodings.GC_SLICE] = encodings.gc_content_bucket(one_hot, length)
  outputs[encodings.ABUNDANCE_SLICE] = encodings.count_bucket(
    [inputs[name] for name in config.input_reads], one_hot
  )
  if 'SEQUENCE_KMER_COUNT' in config.input_features:
    outputs[encodings.KMER_FEATURE] = encodings.standardized_kmer_counts(
      one_hot, length, config.kmer_k_max
    )
  for name, columns in encodings.STRUCTURE_INPUT_COLUMNS.items():
    if name in config.input_features:
      outputs[encodings.INPUT_FEATURES[name]] = structure_input(inputs, columns)

  def norm(values, method, log=config.standardize_log_transform):
    return normalizers.normalize(
      tf.reshape(values, [-1]),
      method,
      standardize_log_transform=log,
      binarize_threshold=config.binarize_threshold,
    )

  normalised_parents = {}
  for name in config.target_names:
    counts = tf.reshape(inputs[name], [-1])
    outputs[name] = counts
    for method in config.target_norms:
      outputs[encodings.target_name(name, method)] = norm(counts, method)
    parent = config.parent_names.get(name, '')
    if parent and parent not in normalised_parents:
      normalised_parents[parent] = norm(inputs[parent], config.dependency_norm)
    outputs[encodings.parent_name(name)] = (
      normalised_parents[parent]
      if parent
      else tf.zeros_like(counts, dtype=tf.float32)
    )
  missing = [n for n in config.additional_outputs if n not in inputs]
  if missing:
    raise ValueError(
      f'additional outputs {missing} are not features of the examples; '
      f'features: {sorted(inputs)}'
    )
  for name in config.additional_outputs:
    values = tf.reshape(tf.cast(inputs[name], tf.float32), [-1])
    outputs[name] = values
    linear = None
    if name in LINEAR_ADDITIONAL_OUTPUTS:
      linear = norm(values, normalizers.STANDARDIZE, log=False)
    for method in config.target_norms:
      outputs[encodings.target_name(name, method)] = (
        linear if linear is not None else norm(values, method)
      )
  if config.binding_evidence:
    specs = [
      binding_evidence.EvidenceSpec.from_dict(s)
      for s in config.binding_evidence
    ]
    outputs.update(binding_evidence.evidence_features(inputs, specs))
  return outputs
