"""The five output layers (MODEL_SPEC 2.6): network logits -> predictions.

Every layer is called as `layer(logits, parent_counts=None)` and returns
`(counts, affinity)`:
  * `logits` [batch, num_logits]: the network's final linear layer, sized by
    the class's `num_logits(num_reads, num_molecules, num_additional_outputs)`.
  * `counts` [batch, reads + additional outputs]: predicted normalised counts
    of the target reads (in `selection_signs(...).reads` order, i.e. the
    sorted `non_input_count_names`), then one column per additional output.
    Additional outputs are always the last logits, regressed directly
    (MODEL_SPEC 2.7), so one loss covers reads and additional outputs alike.
  * `affinity` [batch, molecules]: `predict_affinity(logits)`.
`parent_counts` [batch, reads] holds each read's normalised parent-round
count: the positive reads of the read's round's input round, 0 where that
round has no input. Only LATENT_WITH_DEPS and LATENT_WITH_CROSS_DEPS read
it.

Prediction time: the original used observed parent counts "only in
training, not at prediction time". Serving has no counts, so it passes zeros
(or None, which is the same), dropping the observed-parent terms: the
prediction is the latent part y_t = sum_a z_a |W_at| s_at + b_t. Since
`affinity` never depends on parent counts, the affinity ranking is the same
either way. LATENT_WITH_PRED_DEPS needs no observed counts and keeps its
predicted-parent term at serving time.
"""

import keras
import numpy as np


def _float_matrix(values):
  return np.asarray(values, np.float32)


def _check_logits(layer, logits_shape, expected):
  if logits_shape[-1] != expected:
    raise ValueError(
      f'{type(layer).__name__} expects {expected} logits, got '
      f'{logits_shape[-1]}'
    )


@keras.saving.register_keras_serializable(package='aptamer_tfx')
class FullyObserved(keras.layers.Layer):
  """FULLY_OBSERVED: one logit per read is its predicted count.

  affinity = counts @ M with M[read, molecule] = 1 where the affinity-target
  map lists the read for the molecule: the sum of the mapped reads. The
  original's docstring says "average", but its code (kept here) sums.

  Args:
    affinity_matrix: [reads, molecules] 0/1, from `affinity_matrix`; zero
      molecules when no map was given (no affinity then).
    num_additional_outputs: extra logits appended to `counts`.
  """

  def __init__(self, affinity_matrix, num_additional_outputs=0, **kwargs):
    super().__init__(**kwargs)
    self.affinity_matrix = _float_matrix(affinity_matrix)
    if self.affinity_matrix.ndim != 2:
      raise ValueError(
        f'affinity_matrix must be [reads, molecules], got shape '
        f'{self.affinity_matrix.shape}'
      )
    self.num_additional_outputs = int(num_additional_outputs)

  @staticmethod
  def num_logits(num_reads, num_molecules, num_additional_outputs):
    """One logit per read and per additional output."""
    del num_molecules
    return num_reads + num_additional_outputs

  def build(self, logits_shape, parent_counts_shape=None):
    del parent_counts_shape
    num_reads = self.affinity_matrix.shape[0]
    _check_logits(self, logits_shape, num_reads + self.num_additional_outputs)

  def predict_affinity(self, logits):
    """[batch, molecules]: the sum of each molecule's mapped read logits."""
    num_reads = self.affinity_matrix.shape[0]
    return keras.ops.matmul(logits[:, :num_reads], self.affinity_matrix)

  def call(self, logits, parent_counts=None):
    del parent_counts  # Observed counts are the targets here, not inputs.
    return logits, self.predict_affinity(logits)

  def get_config(self):
    return {
      **super().get_config(),
      'affinity_matrix': self.affinity_matrix.tolist(),
      'num_additional_outputs': self.num_additional_outputs,
    }


@keras.saving.register_keras_serializable(package='aptamer_tfx')
class LatentAffinity(keras.layers.Layer):
  """LATENT_AFFINITY: one latent affinity z_a per molecule.

  y_t = sum_a z_a * |W_at| * s_at + b_t with the selection signs s (+1
  target, -1 background, flipped for negative pools). |W| keeps each sign
  fixed while its magnitude is learned; W starts at ones, b at zeros.
  `affinity` is z itself.

  Args:
    signs: [molecules, reads] selection-sign matrix
      (`schema.experiment.selection_signs(...).matrix`).
    num_additional_outputs: extra logits appended to `counts`.
  """

  def __init__(self, signs, num_additional_outputs=0, **kwargs):
    super().__init__(**kwargs)
    self.signs = _float_matrix(signs)
    self.num_additional_outputs = int(num_additional_outputs)

  @staticmethod
  def num_logits(num_reads, num_molecules, num_additional_outputs):
    """One logit per molecule and per additional output."""
    del num_reads
    return num_molecules + num_additional_outputs

  def build(self, logits_shape, parent_counts_shape=None):
    num_molecules, num_reads = self.signs.shape
    _check_logits(
      self, logits_shape, num_molecules + self.num_additional_outputs
    )
    if parent_counts_shape is not None and parent_counts_shape[-1] != (
      num_reads
    ):
      raise ValueError(
        f'{type(self).__name__} expects {num_reads} parent counts, got '
        f'{parent_counts_shape[-1]}'
      )
    self.weight = self.add_weight(
      name='weight', shape=(num_molecules, num_reads), initializer='ones'
    )
    self.bias = self.add_weight(
      name='bias', shape=(num_reads,), initializer='zeros'
    )
    self.build_dependencies(num_molecules, num_reads)

  def build_dependencies(self, num_molecules, num_reads):
    """Extra weights of the dependency variants."""

  def predict_affinity(self, logits):
    """[batch, molecules]: the latent affinities z."""
    return logits[:, : self.signs.shape[0]]

  def latent_counts(self, affinity):
    """y_t = sum_a z_a |W_at| s_at + b_t, [batch, reads]."""
    return (
      keras.ops.matmul(affinity, keras.ops.abs(self.weight) * self.signs)
      + self.bias
    )

  def dependency_term(self, affinity, latent, parent_counts):
    """What the variant adds to the latent counts (0 here)."""
    del affinity, latent, parent_counts
    return 0.0

  def call(self, logits, parent_counts=None):
    affinity = self.predict_affinity(logits)
    latent = self.latent_counts(affinity)
    counts = latent + self.dependency_term(affinity, latent, parent_counts)
    additional = logits[:, self.signs.shape[0] :]
    return keras.ops.concatenate([counts, additional], axis=1), affinity

  def get_config(self):
    return {
      **super().get_config(),
      'signs': self.signs.tolist(),
      'num_additional_outputs': self.num_additional_outputs,
    }


@keras.saving.register_keras_serializable(package='aptamer_tfx')
class LatentWithDeps(LatentAffinity):
  """LATENT_WITH_DEPS: y_t = latent y_t + c_t * parent_t.

  parent_t is the observed, normalised count of the read's parent round (the
  round's input; 0 where there is none); c starts at 0.1 and is learned
  (`prev_round_scale`). Without parent counts (serving) the term is 0.
  """

  def build_dependencies(self, num_molecules, num_reads):
    del num_molecules
    self.prev_round_scale = self.add_weight(
      name='prev_round_scale',
      shape=(num_reads,),
      initializer=keras.initializers.Constant(0.1),
    )

  def dependency_term(self, affinity, latent, parent_counts):
    del affinity, latent
    if parent_counts is None:
      return 0.0
    return self.prev_round_scale * parent_counts


@keras.saving.register_keras_serializable(package='aptamer_tfx')
class LatentWithPredDeps(LatentWithDeps):
  """LATENT_WITH_PRED_DEPS: the parent term uses *predicted* counts.

  y_t = latent y_t + c_t * latent y_parent(t), where parent(t) is the
  positive read of t's input round if that read is itself a target column,
  else the term is 0 (the original packed zeros there). Observed parent
  counts are ignored, so training and serving predict alike. The original
  passed the predicted (already normalised) count through the dependency
  normaliser a second time, which for STANDARDIZE is log(1 + y) of a value
  that can be below -1; we use the predicted normalised count as is.

  Args:
    signs: [molecules, reads] selection-sign matrix.
    parent_index: [reads] column of each read's parent among the reads, -1
      where the parent is not a target (`parent_indices`).
    num_additional_outputs: extra logits appended to `counts`.
  """

  def __init__(self, signs, parent_index, num_additional_outputs=0, **kwargs):
    super().__init__(signs, num_additional_outputs, **kwargs)
    self.parent_index = np.asarray(parent_index, np.int32).reshape(-1)
    if self.parent_index.shape[0] != self.signs.shape[1]:
      raise ValueError(
        f'parent_index has {self.parent_index.shape[0]} entries for '
        f'{self.signs.shape[1]} reads'
      )

  def dependency_term(self, affinity, latent, parent_counts):
    del affinity, parent_counts
    has_parent = (self.parent_index >= 0).astype(np.float32)
    parent = keras.ops.take(latent, np.maximum(self.parent_index, 0), axis=1)
    return self.prev_round_scale * parent * has_parent

  def get_config(self):
    return {**super().get_config(), 'parent_index': self.parent_index.tolist()}


@keras.saving.register_keras_serializable(package='aptamer_tfx')
class LatentWithCrossDeps(LatentWithDeps):
  """LATENT_WITH_CROSS_DEPS: Deps plus sum_a z_a |V_at| s_at * parent_t.

  A count is high only if the sequence was present in the previous round
  and binds; V starts at zeros. Without parent counts (serving) both parent
  terms are 0.
  """

  def build_dependencies(self, num_molecules, num_reads):
    super().build_dependencies(num_molecules, num_reads)
    self.cross_weight = self.add_weight(
      name='cross_weight', shape=(num_molecules, num_reads), initializer='zeros'
    )

  def dependency_term(self, affinity, latent, parent_counts):
    del latent
    if parent_counts is None:
      return 0.0
    cross = keras.ops.matmul(
      affinity, keras.ops.abs(self.cross_weight) * self.signs
    )
    return (self.prev_round_scale + cross) * parent_counts


def affinity_matrix(reads, molecules, affinity_target_map):
  """[reads, molecules] 0/1 matrix of an affinity-target map.

  Args:
    reads: the target read names (count columns), in order.
    molecules: the affinity molecules, in output order.
    affinity_target_map: molecule -> read names whose counts it sums.

  Returns:
    float32 matrix, 1 where the molecule's entry lists the read.

  Raises:
    ValueError: the map names a read that is not a training target.
  """
  unknown = sorted(
    {r for names in affinity_target_map.values() for r in names} - set(reads)
  )
  if unknown:
    raise ValueError(
      f'affinity_target_map names reads that are not training targets: '
      f'{unknown}; targets are {list(reads)}'
    )
  matrix = np.zeros((len(reads), len(molecules)), np.float32)
  for j, molecule in enumerate(molecules):
    for read in affinity_target_map.get(molecule, []):
      matrix[list(reads).index(read), j] = 1.0
  return matrix


def parent_indices(reads, parents):
  """Column of each read's parent read among `reads` (-1 if not a target).

  Args:
    reads: the target read names, in column order.
    parents: read -> parent read ('' if none), from
      `schema.experiment.parent_counts`.
  """
  reads = list(reads)
  return [
    reads.index(parents[r]) if parents.get(r) in reads else -1 for r in reads
  ]
