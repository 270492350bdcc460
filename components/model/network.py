"""The original's feed-forward network (conv layers, then FC layers), Keras 3.

Layout (MODEL_SPEC 2.1): one-hot input -> 0..n conv layers -> flatten ->
0..n FC layers, each preceded by dropout -> dropout -> final linear layer ->
output layer. No batch norm, no L2. Weights use the uniform unit-scaling
initializer of the original (VarianceScaling, fan_in, uniform, scale =
factor^2).
"""

from typing import Dict
from typing import List
from typing import Optional

import keras

from components.config import hparams as hparams_lib
from components.features import encodings
from components.model import output_layers
from schema import experiment as experiment_lib

# Input name of the parent-round counts (dependency output layers).
PARENT_INPUT = 'parent_counts'


def infeasibility(hp: hparams_lib.HParams, sequence_length: int) -> str:
  """Why a conv stack cannot be built ('' when it can), as the original's
  `hps_is_infeasible`: stride > 1 with rate > 1, or an output shorter than the
  next layer's width (the final layer counts as width 1)."""
  length = sequence_length
  widths = hp.conv_widths[1:] + [1]
  for i, (stride, rate) in enumerate(zip(hp.conv_strides, hp.conv_rates)):
    if stride > 1 and rate > 1:
      return f'conv layer {i}: stride {stride} with dilation rate {rate}'
    length = -(-length // stride)
    if length < widths[i]:
      return (
        f'conv layer {i}: output length {length} is shorter than the next '
        f'width {widths[i]}'
      )
  return ''


def _initializer(factor: float):
  return keras.initializers.VarianceScaling(
    scale=factor**2, mode='fan_in', distribution='uniform'
  )


def build_network(
  hp: hparams_lib.HParams,
  sequence_length: int,
  num_logits: int,
  dense_inputs: Optional[Dict[str, int]] = None,
  use_one_hot: bool = True,
  name: str = 'network',
) -> keras.Model:
  """The feed-forward trunk: inputs -> `num_logits` linear outputs.

  Args:
    hp: the hyper-parameters.
    sequence_length: L, for the one-hot input [batch, L * 4].
    num_logits: size of the final linear layer.
    dense_inputs: transformed name -> width of each 2-D input (k-mer
      counts, structure features), joined after the conv stack in this
      order.
    use_one_hot: whether the one-hot sequence is an input.
    name: the model's name.

  Returns:
    A Keras model taking a dict keyed by `encodings.ONE_HOT_FEATURE` and/or
    the names of `dense_inputs`.
  """
  reason = infeasibility(hp, sequence_length)
  if reason:
    raise ValueError(f'infeasible network: {reason}')
  if not use_one_hot and hp.num_conv_layers:
    raise ValueError('conv layers need the SEQUENCE_ONE_HOT input')
  inputs, flat = {}, []
  if use_one_hot:
    one_hot = keras.Input(
      shape=(sequence_length * 4,), name=encodings.ONE_HOT_FEATURE
    )
    inputs[encodings.ONE_HOT_FEATURE] = one_hot
    x = keras.layers.Reshape((sequence_length, 4))(one_hot)
    for i in range(hp.num_conv_layers):
      x = keras.layers.Conv1D(
        filters=hp.conv_depths[i],
        kernel_size=hp.conv_widths[i],
        strides=hp.conv_strides[i],
        dilation_rate=hp.conv_rates[i],
        padding='same',
        activation=hp.nonlinearity,
        kernel_initializer=_initializer(hp.conv_init_factors[i]),
        name=f'conv_{i}',
      )(x)
    flat.append(keras.layers.Flatten()(x))
  for input_name, width in (dense_inputs or {}).items():
    # 2-D inputs join after the conv stack (the original's layout).
    dense = keras.Input(shape=(width,), name=input_name)
    inputs[input_name] = dense
    flat.append(dense)
  if not flat:
    raise ValueError('the network needs at least one input feature')
  x = flat[0] if len(flat) == 1 else keras.layers.Concatenate()(flat)
  for i in range(hp.num_fc_layers):
    x = keras.layers.Dropout(hp.dropouts[i])(x)
    x = keras.layers.Dense(
      hp.fc_hid_sizes[i],
      activation=hp.nonlinearity,
      kernel_initializer=_initializer(hp.fc_init_factors[i]),
      name=f'fc_{i}',
    )(x)
  x = keras.layers.Dropout(hp.dropouts[-1])(x)
  logits = keras.layers.Dense(
    num_logits,
    kernel_initializer=_initializer(hp.output_init_factor),
    name='fc_final',
  )(x)
  return keras.Model(inputs, logits, name=name)


def make_output_layer(output_layer: str, experiment, options, signs):
  """The output layer `output_layer` for this experiment."""
  num_ao = len(options.additional_outputs)
  if output_layer == 'FULLY_OBSERVED':
    return output_layers.FullyObserved(
      output_layers.affinity_matrix(
        signs.reads,
        sorted(options.affinity_target_map),
        options.affinity_target_map,
      ),
      num_ao,
      name='fully_observed',
    )
  if output_layer == 'LATENT_WITH_PRED_DEPS':
    parents = experiment_lib.parent_counts(experiment)
    return output_layers.LatentWithPredDeps(
      signs.matrix,
      output_layers.parent_indices(signs.reads, parents),
      num_ao,
      name='latent_with_pred_deps',
    )
  layer_class = {
    'LATENT_AFFINITY': output_layers.LatentAffinity,
    'LATENT_WITH_DEPS': output_layers.LatentWithDeps,
    'LATENT_WITH_CROSS_DEPS': output_layers.LatentWithCrossDeps,
  }[output_layer]
  return layer_class(signs.matrix, num_ao, name=output_layer.lower())


def affinity_molecules(output_layer: str, options, signs) -> List[str]:
  """The molecules of `predict_affinity`, in output order."""
  if output_layer == 'FULLY_OBSERVED':
    return sorted(options.affinity_target_map)
  return list(signs.molecules)


def build_model(
  hp: hparams_lib.HParams, experiment, options, signs
) -> keras.Model:
  """Network + output layer for an experiment and its model options.

  Args:
    hp: network hyper-parameters.
    experiment: the `Experiment` message.
    options: `model_options.ModelOptions`.
    signs: `experiment.selection_signs(experiment)`.

  Returns:
    A Keras model from a dict of inputs (the selected input features, and
    `parent_counts` [batch, reads] for the dependency layers) to a dict with
    `counts` [batch, reads + additional outputs] and `affinity`
    [batch, molecules].
  """
  layer = make_output_layer(options.output_layer, experiment, options, signs)
  num_logits = layer.num_logits(
    len(signs.reads),
    len(affinity_molecules(options.output_layer, options, signs)),
    len(options.additional_outputs),
  )
  network = build_network(
    hp,
    experiment.sequence_length,
    num_logits,
    dense_inputs=encodings.dense_input_widths(
      options.input_features, options.kmer_k_max
    ),
    use_one_hot='SEQUENCE_ONE_HOT' in options.input_features,
  )
  inputs = dict(network.input)
  parent_counts = None
  if options.output_layer.startswith('LATENT_WITH'):
    parent_counts = keras.Input(shape=(len(signs.reads),), name=PARENT_INPUT)
    inputs[PARENT_INPUT] = parent_counts
  counts, affinity = layer(network.output, parent_counts)
  return keras.Model(
    inputs, {'counts': counts, 'affinity': affinity}, name='aptamer_model'
  )


def make_optimizer(hp: hparams_lib.HParams) -> keras.optimizers.Optimizer:
  """Momentum SGD (the original's default) or Adam, both really selectable."""
  if hp.optimizer == 'adam':
    return keras.optimizers.Adam(learning_rate=hp.learn_rate)
  return keras.optimizers.SGD(learning_rate=hp.learn_rate, momentum=hp.momentum)
