"""Keras datasets from Transform's output, with the playbook's preprocessing.

Training batches follow the original's preprocess modes:
  * PREPROCESS_SKIP_ALL_ZERO_COUNTS (default): drop examples whose target
    counts are all zero.
  * PREPROCESS_ALL_COUNTS: keep every example (evaluation always does).
  * PREPROCESS_INJECT_RANDOM_SEQUENCES: observed zero counts become NaN
    (ignored by the loss) and `ratio_random_dna` random sequences per real
    one are added as the negative signal, with zero counts. Random bases are
    drawn from all four (the original never drew C).
and positives (target reads summed >= `total_reads_defining_positive`) are
upsampled to at least `min_fraction_positive` when rarer (per preprocessing
chunk of `PREPROCESS_CHUNK` examples).

Each element is (inputs, labels): inputs a dict keyed by the model's input
names, labels [batch, outputs] with outputs = target reads then additional
outputs; normalised for training, raw for the rank metrics.
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from components.config import model_options as options_lib
from components.features import encodings
from components.model import network as model_lib
from components.training import epoch_evaluation

PARENT_COUNTS_INPUT = model_lib.PARENT_INPUT
EVAL_BATCH_SIZE = 1024
# Examples per preprocessing read (the original used 65,536): filtering and
# upsampling happen per chunk, before re-batching to the minibatch size.
PREPROCESS_CHUNK = 8192


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """Which transformed columns a run reads."""

  targets: List[str]
  additional_outputs: List[str]
  input_features: List[str]  # Transformed feature names.
  norm: str
  parent_counts: bool
  # StructureFeatures example features the inputs are built from.
  structure_features: List[str] = dataclasses.field(default_factory=list)

  @property
  def outputs(self) -> List[str]:
    return list(self.targets) + list(self.additional_outputs)

  @classmethod
  def create(
    cls, targets: List[str], options: options_lib.ModelOptions
  ) -> 'DataSpec':
    return cls(
      targets=list(targets),
      additional_outputs=list(options.additional_outputs),
      input_features=[
        encodings.INPUT_FEATURES[f] for f in options.input_features
      ],
      norm=options.loss_norm,
      parent_counts=options.output_layer.startswith('LATENT_WITH'),
      structure_features=encodings.structure_raw_features(
        options.input_features
      ),
    )


def model_inputs(batch: Dict[str, tf.Tensor], spec: DataSpec):
  """The model's input dict from a batch of transformed features."""
  inputs = {name: batch[name] for name in spec.input_features}
  if spec.parent_counts:
    inputs[PARENT_COUNTS_INPUT] = tf.stack(
      [batch[encodings.parent_name(t)] for t in spec.targets], axis=1
    )
  return inputs


def labels(batch: Dict[str, tf.Tensor], spec: DataSpec, raw: bool):
  """[batch, outputs]: normalised targets, or raw counts and values."""
  if raw:
    columns = [tf.cast(batch[o], tf.float32) for o in spec.outputs]
  else:
    columns = [batch[encodings.target_name(o, spec.norm)] for o in spec.outputs]
  return tf.stack(columns, axis=1)


def read_batches(
  file_pattern: List[str],
  data_accessor: tfx.components.DataAccessor,
  tft_output: tft.TFTransformOutput,
  batch_size: int,
  shuffle: bool,
  seed: int,
) -> tf.data.Dataset:
  """One pass over transformed examples as feature dicts."""
  return data_accessor.tf_dataset_factory(
    file_pattern,
    tfxio.TensorFlowDatasetOptions(
      batch_size=batch_size, shuffle=shuffle, shuffle_seed=seed, num_epochs=1
    ),
    tft_output.transformed_metadata.schema,
  )


def upsample_positives(
  chunk: Dict[str, tf.Tensor],
  targets: List[str],
  threshold: int,
  fraction: float,
  seed: int,
) -> Dict[str, tf.Tensor]:
  """Repeats the positives of one chunk so they make up `fraction` of it.

  Positive: the target reads sum to at least `threshold`. As the original,
  only when 0 < P < fraction * N, each positive is kept at rate
  R = fraction * (N - P) / (P * (1 - fraction)): floor(R) copies plus one
  more with probability R - floor(R); negatives are kept once.
  """
  total = tf.add_n([tf.cast(chunk[t], tf.int64) for t in targets])
  positive = total >= threshold
  n = tf.cast(tf.size(total), tf.float32)
  p = tf.reduce_sum(tf.cast(positive, tf.float32))
  rate = fraction * (n - p) / (tf.maximum(p, 1.0) * (1.0 - fraction))
  draw = tf.random.uniform(tf.shape(total), seed=seed)
  copies = tf.floor(rate) + tf.cast(draw < rate - tf.floor(rate), tf.float32)
  resample = tf.logical_and(p > 0, p < fraction * n)
  copies = tf.where(tf.logical_and(positive, resample), copies, 1.0)
  index = tf.repeat(tf.range(tf.size(total)), tf.cast(copies, tf.int32))
  return {k: tf.gather(v, index) for k, v in chunk.items()}


def _random_sequence_batch(
  size, template: str, spec: DataSpec, zero: Dict[str, tf.Tensor], k_max: int
):
  """Random sequences from the template (N = any of A, C, G, T)."""
  length = len(template)
  fixed = np.array(
    ['ATGC'.find(c) if c in 'ATGC' else -1 for c in template], np.int32
  )
  drawn = tf.random.uniform([size, length], 0, 4, dtype=tf.int32)
  index = tf.where(fixed >= 0, fixed, drawn)
  one_hot = tf.reshape(tf.one_hot(index, 4), [size, length * 4])
  batch = {encodings.ONE_HOT_FEATURE: one_hot}
  if encodings.KMER_FEATURE in spec.input_features:
    batch[encodings.KMER_FEATURE] = encodings.standardized_kmer_counts(
      one_hot, length, k_max
    )
  for name, value in zero.items():  # Normalised zero counts, broadcast.
    batch[name] = tf.fill([size], value)
  return batch


def zero_count_features(
  tft_output: tft.TFTransformOutput, spec: DataSpec, sequence_length: int
) -> Dict[str, float]:
  """Transformed values of an example whose counts are all zero."""
  raw = {}
  for name, feature_spec in tft_output.raw_feature_spec().items():
    if feature_spec.dtype == tf.string:
      raw[name] = tf.constant([['A' * sequence_length]])
    else:
      raw[name] = tf.zeros([1, 1], feature_spec.dtype)
  out = tft_output.transform_raw_features(raw)
  names = [encodings.target_name(o, spec.norm) for o in spec.targets]
  names += [encodings.parent_name(t) for t in spec.targets]
  return {n: float(out[n].numpy()[0]) for n in names}


def _some_target_counted(chunk: Dict[str, tf.Tensor], spec: DataSpec):
  """Per example: whether any target read counted it."""
  return tf.reduce_any(
    tf.stack([chunk[t] > 0 for t in spec.targets], axis=1), axis=1
  )


def whole_split_batches(
  chunks: tf.data.Dataset,
  spec: DataSpec,
  options: options_lib.ModelOptions,
  batch_size: int,
) -> int:
  """A lower bound of the minibatches of one epoch over the whole split.

  The examples preprocessing keeps (all, or those a target read counted),
  in minibatches; upsampling only adds copies. One pass over the training
  chunks (it fills the parsed-split cache, which the first epoch then
  reads).
  """
  if options.preprocess_mode == 'PREPROCESS_SKIP_ALL_ZERO_COUNTS':
    sizes = chunks.map(
      lambda c: tf.reduce_sum(tf.cast(_some_target_counted(c, spec), tf.int64))
    )
  else:
    sizes = chunks.map(lambda c: tf.shape(c['cluster'], out_type=tf.int64)[0])
  kept = int(sizes.reduce(tf.constant(0, tf.int64), lambda a, b: a + b))
  return -(-kept // batch_size)


def training_dataset(
  chunks: tf.data.Dataset,
  spec: DataSpec,
  options: options_lib.ModelOptions,
  batch_size: int,
  seed: int,
  zero: Dict[str, float],
  template: str,
) -> tf.data.Dataset:
  """Training (inputs, normalised labels) after preprocessing.

  Filtering and upsampling work on large read chunks (like the original's
  preprocessing reads) with whole-tensor ops, then the chunks are shuffled
  and re-batched to the minibatch size; random sequences are injected per
  minibatch.
  """
  mode = options.preprocess_mode

  def preprocess(chunk):
    if mode == 'PREPROCESS_SKIP_ALL_ZERO_COUNTS':
      keep = _some_target_counted(chunk, spec)
      chunk = {k: tf.boolean_mask(v, keep) for k, v in chunk.items()}
    if options.total_reads_defining_positive > 0:
      chunk = upsample_positives(
        chunk,
        spec.targets,
        options.total_reads_defining_positive,
        options.min_fraction_positive,
        seed,
      )
    order = tf.random.shuffle(tf.range(tf.shape(chunk['cluster'])[0]), seed)
    return {k: tf.gather(v, order) for k, v in chunk.items()}

  batches = chunks.map(preprocess).rebatch(batch_size)
  if mode != 'PREPROCESS_INJECT_RANDOM_SEQUENCES':
    return batches.map(
      lambda b: (model_inputs(b, spec), labels(b, spec, raw=False)),
      num_parallel_calls=tf.data.AUTOTUNE,
    )

  def inject(batch):
    targets = labels(batch, spec, raw=False)
    counts = labels(batch, spec, raw=True)
    num_counts = len(spec.targets)
    # Observed zeros say nothing once random sequences carry the negatives.
    observed_zero = tf.concat(
      [
        counts[:, :num_counts] == 0,
        tf.zeros_like(counts[:, num_counts:], dtype=tf.bool),
      ],
      axis=1,
    )
    targets = tf.where(observed_zero, np.nan, targets)
    size = tf.cast(
      tf.math.ceil(
        options.ratio_random_dna * tf.cast(tf.shape(targets)[0], tf.float32)
      ),
      tf.int32,
    )
    random = _random_sequence_batch(
      size, template, spec, zero, options.kmer_k_max
    )
    random_targets = tf.stack(
      [random[encodings.target_name(t, spec.norm)] for t in spec.targets]
      + [tf.fill([size], np.nan)] * len(spec.additional_outputs),
      axis=1,
    )
    inputs = model_inputs(batch, spec)
    random_inputs = model_inputs(random, spec)
    merged = {k: tf.concat([inputs[k], random_inputs[k]], 0) for k in inputs}
    merged_targets = tf.concat([targets, random_targets], 0)
    order = tf.random.shuffle(tf.range(tf.shape(merged_targets)[0]), seed=seed)
    return (
      {k: tf.gather(v, order) for k, v in merged.items()},
      tf.gather(merged_targets, order),
    )

  return batches.map(inject)


@dataclasses.dataclass
class TrainingData:
  """What a training run (Trainer or Tuner trial) feeds to Keras.

  Attributes:
    train: (inputs, normalised labels) batches after preprocessing.
    fit_kwargs: extra `fit` arguments (epochs, steps_per_epoch).
    rank_samples: name -> (inputs, (raw labels, normalised labels)) for the
      per-epoch reports, training and validation: the whole split, or with
      eval_size a sampler drawing eval_size examples per report (from the
      split in memory, or with the training cache off a `ShuffledQueue`
      streaming from disk).
    spec: the columns read.
    steps_per_execution: what the training model compiles with: the
      configuration's `execution_steps()`, and for epochs over the whole
      split at most the epoch's minibatches (Keras logs nothing, and its
      progress line fails, for an epoch that ends inside its first call).
  """

  train: tf.data.Dataset
  fit_kwargs: Dict[str, Any]
  rank_samples: Dict[str, Any]
  spec: DataSpec
  steps_per_execution: int = 1


def prepare(
  fn_args: tfx.components.FnArgs,
  tft_output: tft.TFTransformOutput,
  spec: DataSpec,
  options: options_lib.ModelOptions,
  training,
  template: str,
) -> TrainingData:
  """Builds the datasets of one training run from the TFX arguments.

  Args:
    fn_args: the Trainer's or Tuner's arguments (files, data accessor).
    tft_output: the Transform output.
    spec: the columns to read.
    options: model options (preprocessing).
    training: a `trainer_module.TrainingConfig`.
    template: the experiment's template sequence (random injection).
  """

  def batches(files, batch_size, shuffle):
    return read_batches(
      files,
      fn_args.data_accessor,
      tft_output,
      batch_size,
      shuffle,
      training.seed,
    )

  zero = {}
  if options.preprocess_mode == 'PREPROCESS_INJECT_RANDOM_SEQUENCES':
    zero = zero_count_features(tft_output, spec, len(template))
  chunks = batches(fn_args.train_files, PREPROCESS_CHUNK, True)
  if training.cache_training_data:
    # Parsing the transformed TFRecords costs more than a training step on
    # small CPUs; parse once, then reshuffle the cached chunks every epoch.
    chunks = chunks.cache().shuffle(1024, seed=training.seed)
  train = training_dataset(
    chunks,
    spec,
    options,
    training.mbsz,
    training.seed,
    zero,
    template,
  )
  fit_kwargs = {'epochs': training.epochs}
  steps_per_execution = training.execution_steps()
  if training.steps_per_epoch:
    train = train.repeat()
    fit_kwargs['steps_per_epoch'] = training.steps_per_epoch
  else:
    steps_per_execution = max(
      1,
      min(
        steps_per_execution,
        whole_split_batches(chunks, spec, options, training.mbsz),
      ),
    )
  rank_samples = {}
  # Without the training cache the splits may not fit in memory: the report
  # then streams its samples from disk, as the original's shuffled queue.
  stream = training.eval_size > 0 and not training.cache_training_data
  for index, (name, files) in enumerate(
    (('training', fn_args.train_files), ('validation', fn_args.eval_files))
  ):
    raw = batches(files, EVAL_BATCH_SIZE, stream).map(
      lambda b: (
        model_inputs(b, spec),
        (labels(b, spec, raw=True), labels(b, spec, raw=False)),
      )
    )
    # eval_size: a new random sample at every evaluation, as the original.
    if stream:
      rank_samples[name] = epoch_evaluation.ShuffledQueue(
        raw, training.eval_size
      )
    elif training.eval_size:
      rank_samples[name] = epoch_evaluation.InMemorySample(
        epoch_evaluation.materialize(raw),
        training.eval_size,
        seed=training.seed + index,
      )
    else:
      rank_samples[name] = epoch_evaluation.materialize(raw)
  # Input work must not crowd out the training step on small machines.
  data_options = tf.data.Options()
  data_options.threading.max_intra_op_parallelism = 1
  train = train.with_options(data_options)
  return TrainingData(
    train.prefetch(tf.data.AUTOTUNE),
    fit_kwargs,
    rank_samples,
    spec,
    steps_per_execution,
  )
