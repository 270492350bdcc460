"""The original's random-search space (MODEL_SPEC 2.2) as KerasTuner
hyper-parameters.

Meta-parameters (layer counts, output layer, loss) are fixed per search;
hyper-parameters are sampled, except those the user pins (the playbook's
`hpconfig`), which become `Fixed` so the space shrinks instead of the pin
being ignored. Per-layer lists are flattened to one hyper-parameter per layer
(`dropout_0`, `fc_hid_size_1`, ...), which KerasTuner can sample
independently; `to_hparams_dict` folds them back.
"""

from typing import Any
from typing import Dict

import keras_tuner

from components.config import hparams as hparams_lib

# Per-layer hyper-parameters: HParams list field -> (flat prefix, range).
_PER_LAYER = {
  'dropouts': ('dropout', 'fc+1', (0.0, 0.5)),
  'fc_hid_sizes': ('fc_hid_size', 'fc', (64, 768)),
  'conv_widths': ('conv_width', 'conv', (4, 12)),
  'conv_depths': ('conv_depth', 'conv', (16, 64)),
  'conv_strides': ('conv_stride', 'conv', (1, None)),  # max: max_strides
  'conv_rates': ('conv_rate', 'conv', (1, None)),  # max: max_rates
}


def _layers(kind: str, num_conv: int, num_fc: int) -> int:
  return {'fc+1': num_fc + 1, 'fc': num_fc, 'conv': num_conv}[kind]


def build(
  num_conv_layers: int,
  num_fc_layers: int,
  pinned: Dict[str, Any] = None,
  max_strides: int = 1,
  max_rates: int = 1,
  meta: Dict[str, Any] = None,
) -> keras_tuner.HyperParameters:
  """The search space of one meta-parameter combination.

  Args:
    num_conv_layers: conv layers of every candidate (a meta-parameter).
    num_fc_layers: hidden FC layers of every candidate (a meta-parameter).
    pinned: `HParams` field -> fixed value (lists for per-layer fields).
    max_strides: largest conv stride sampled.
    max_rates: largest conv dilation rate sampled.
    meta: further fixed meta-parameters (output_layer, loss_name,
      loss_norm), recorded so the winning trial carries them.

  Returns:
    KerasTuner hyper-parameters; pinned values are `Fixed`.

  Raises:
    ValueError: a pinned name is unknown or a pinned list has the wrong
      length for the meta-parameters.
  """
  pinned = dict(pinned or {})
  hp = keras_tuner.HyperParameters()
  hp.Fixed('num_conv_layers', num_conv_layers)
  hp.Fixed('num_fc_layers', num_fc_layers)
  for name, value in sorted((meta or {}).items()):
    hp.Fixed(name, value)

  def scalar(name, sample):
    if name in pinned:
      hp.Fixed(name, pinned.pop(name))
    else:
      sample()

  scalar(
    'nonlinearity',
    lambda: hp.Choice('nonlinearity', list(hparams_lib.NONLINEARITIES)),
  )
  scalar(
    'learn_rate',
    lambda: hp.Float('learn_rate', 1e-4, 1e-2, sampling='log'),
  )
  scalar('momentum', lambda: hp.Float('momentum', 0.0, 0.99))
  scalar('optimizer', lambda: hp.Fixed('optimizer', 'momentum'))
  maxima = {'conv_strides': max_strides, 'conv_rates': max_rates}
  for field, (prefix, kind, (low, high)) in _PER_LAYER.items():
    n = _layers(kind, num_conv_layers, num_fc_layers)
    values = pinned.pop(field, None)
    if values is not None and len(values) != n:
      raise ValueError(
        f'pinned {field} needs {n} values for this network, got {values}'
      )
    high = maxima.get(field, high)
    for i in range(n):
      name = f'{prefix}_{i}'
      if values is not None:
        hp.Fixed(name, values[i])
      elif isinstance(low, float):
        hp.Float(name, low, high)
      elif low == high:
        hp.Fixed(name, low)
      else:
        hp.Int(name, low, high)
  for name in hparams_lib.LAYER_COUNTS:
    pinned.pop(name, None)
  if pinned:
    raise ValueError(f'unknown hyper-parameters to pin: {sorted(pinned)}')
  return hp


def to_hparams_dict(values: Dict[str, Any]) -> Dict[str, Any]:
  """Flat KerasTuner values -> keyword arguments of `components.config.hparams.HParams`."""
  values = dict(values)
  out = {}
  num = {
    'conv': int(values.get('num_conv_layers', 0)),
    'fc': int(values.get('num_fc_layers', 0)),
  }
  for field, (prefix, kind, _) in _PER_LAYER.items():
    n = _layers(kind, num['conv'], num['fc'])
    names = [f'{prefix}_{i}' for i in range(n)]
    if all(name in values for name in names):
      out[field] = [values.pop(name) for name in names]
  out.update(values)
  return out
