"""The original's feed-forward network (conv layers, then FC layers), Keras 3.

Layout (MODEL_SPEC 2.1): one-hot input -> 0..n conv layers -> flatten ->
0..n FC layers, each preceded by dropout -> dropout -> final linear layer ->
output layer. No batch norm, no L2. Weights use the uniform unit-scaling
initializer of the original (VarianceScaling, fan_in, uniform, scale =
factor^2).
"""

import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Sequence

import keras

from components import features
from components import output_layers

NONLINEARITIES = ('relu', 'elu', 'tanh', 'sigmoid')


@dataclasses.dataclass
class HParams:
  """Meta-parameters and hyper-parameters, defaults as in the original."""

  num_conv_layers: int = 0
  num_fc_layers: int = 1
  nonlinearity: str = 'tanh'
  learn_rate: float = 0.005
  momentum: float = 0.9
  optimizer: str = 'momentum'
  output_init_factor: float = 1.0
  # Per-layer lists; empty means the default for every layer.
  dropouts: List[float] = dataclasses.field(default_factory=list)
  fc_hid_sizes: List[int] = dataclasses.field(default_factory=list)
  fc_init_factors: List[float] = dataclasses.field(default_factory=list)
  conv_widths: List[int] = dataclasses.field(default_factory=list)
  conv_depths: List[int] = dataclasses.field(default_factory=list)
  conv_strides: List[int] = dataclasses.field(default_factory=list)
  conv_rates: List[int] = dataclasses.field(default_factory=list)
  conv_init_factors: List[float] = dataclasses.field(default_factory=list)

  def __post_init__(self):
    def fill(values, n, default):
      return list(values) if values else [default] * n

    nc, nf = self.num_conv_layers, self.num_fc_layers
    self.dropouts = fill(self.dropouts, nf + 1, 0.0)
    self.fc_hid_sizes = fill(self.fc_hid_sizes, nf, 256)
    self.fc_init_factors = fill(self.fc_init_factors, nf, 1.0)
    self.conv_widths = fill(self.conv_widths, nc, 16)
    self.conv_depths = fill(self.conv_depths, nc, 32)
    self.conv_strides = fill(self.conv_strides, nc, 1)
    self.conv_rates = fill(self.conv_rates, nc, 1)
    self.conv_init_factors = fill(self.conv_init_factors, nc, 1.0)
    self.validate()

  def validate(self):
    """Raises ValueError naming the inconsistent hyper-parameter."""
    if self.nonlinearity not in NONLINEARITIES:
      raise ValueError(
        f'nonlinearity must be one of {NONLINEARITIES}, got '
        f'{self.nonlinearity!r}'
      )
    if self.optimizer not in ('momentum', 'adam'):
      raise ValueError(
        f"optimizer must be 'momentum' or 'adam', got {self.optimizer!r}"
      )
    lengths = {
      'dropouts': (self.dropouts, self.num_fc_layers + 1),
      'fc_hid_sizes': (self.fc_hid_sizes, self.num_fc_layers),
      'fc_init_factors': (self.fc_init_factors, self.num_fc_layers),
      'conv_widths': (self.conv_widths, self.num_conv_layers),
      'conv_depths': (self.conv_depths, self.num_conv_layers),
      'conv_strides': (self.conv_strides, self.num_conv_layers),
      'conv_rates': (self.conv_rates, self.num_conv_layers),
      'conv_init_factors': (self.conv_init_factors, self.num_conv_layers),
    }
    for name, (values, expected) in lengths.items():
      if len(values) != expected:
        raise ValueError(
          f'{name} needs {expected} values for this network, got {values}'
        )

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'HParams':
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
      raise ValueError(f'unknown hyper-parameters: {sorted(unknown)}')
    return cls(**values)


def infeasibility(hp: HParams, sequence_length: int) -> str:
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
  hp: HParams, sequence_length: int, num_logits: int, name: str = 'network'
) -> keras.Model:
  """The feed-forward trunk: one-hot input -> `num_logits` linear outputs."""
  reason = infeasibility(hp, sequence_length)
  if reason:
    raise ValueError(f'infeasible network: {reason}')
  inputs = keras.Input(
    shape=(sequence_length * 4,), name=features.ONE_HOT_FEATURE
  )
  x = keras.layers.Reshape((sequence_length, 4))(inputs)
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
  x = keras.layers.Flatten()(x)
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


def build_latent_affinity_model(
  hp: HParams, sequence_length: int, signs: Sequence[Sequence[float]]
) -> keras.Model:
  """Network + LATENT_AFFINITY layer.

  Returns:
    A Keras model from `sequence_one_hot` to a dict with `counts` (predicted
    normalised counts, [batch, reads]) and `affinity` (latent affinity per
    molecule, [batch, molecules]).
  """
  num_molecules = len(signs)
  network = build_network(hp, sequence_length, num_molecules)
  affinity = network.output
  counts = output_layers.LatentAffinity(signs, name='latent_affinity')(affinity)
  return keras.Model(
    network.input,
    {'counts': counts, 'affinity': affinity},
    name='aptamer_model',
  )


def make_optimizer(hp: HParams) -> keras.optimizers.Optimizer:
  """Momentum SGD (the original's default) or Adam, both really selectable."""
  if hp.optimizer == 'adam':
    return keras.optimizers.Adam(learning_rate=hp.learn_rate)
  return keras.optimizers.SGD(learning_rate=hp.learn_rate, momentum=hp.momentum)
