"""The playbook's `--vars` and `hpconfig` strings.

`--vars="run_group=R,output_layer=LATENT_AFFINITY,loss_name=CROSS_ENTROPY,
num_fc_layers=2,num_conv_layers=0,num_replicas=20,autotune=true,
hpconfig=nonlinearity='tanh',learn_rate=0.01,dropouts=[0.1,0.4,0.001]"`

Top-level keys are split on commas outside brackets; once `hpconfig=`
starts, the following assignments whose key is not a top-level key belong
to it (the playbook writes hpconfig unquoted, last). Values are typed per
key; anything unknown or malformed is an error naming the key.
"""

import ast
from typing import Any
from typing import Dict
from typing import List

# Top-level --vars keys -> the RunOptions field they set.
VAR_FIELDS = {
  'run_group': 'run_name',
  'output_layer': 'output_layer',
  'loss_name': 'loss_name',
  'loss_norm': 'loss_norm',
  'num_fc_layers': 'num_fc_layers',
  'num_conv_layers': 'num_conv_layers',
  'num_replicas': 'num_replicas',
  'autotune': 'autotune',
  'hpconfig': 'hpconfig',
  'tuner_loss': 'tuner_loss',
  'epochs': 'epochs',
  'epoch_size': 'epoch_size',
}
_INT_KEYS = {
  'num_fc_layers',
  'num_conv_layers',
  'num_replicas',
  'epochs',
  'epoch_size',
}


class VarsError(ValueError):
  """A --vars or hpconfig string is malformed."""


def split_top_level(text: str) -> List[str]:
  """Splits on commas that are not inside brackets or quotes."""
  parts, depth, quote, current = [], 0, '', []
  for char in text:
    if quote:
      quote = '' if char == quote else quote
    elif char in '\'"':
      quote = char
    elif char in '[(':
      depth += 1
    elif char in '])':
      depth -= 1
    elif char == ',' and depth == 0:
      parts.append(''.join(current))
      current = []
      continue
    current.append(char)
  if depth or quote:
    raise VarsError(f'unbalanced brackets or quotes in {text!r}')
  parts.append(''.join(current))
  return [p.strip() for p in parts if p.strip()]


def _assignment(part: str, context: str):
  if '=' not in part:
    raise VarsError(f'{context}: expected key=value, got {part!r}')
  key, value = part.split('=', 1)
  return key.strip(), value.strip()


def parse_vars(text: str) -> Dict[str, Any]:
  """Parses a --vars string into RunOptions field values.

  Returns:
    RunOptions field -> typed value (hpconfig stays a string, checked by
    `parse_hpconfig`).

  Raises:
    VarsError: an unknown key, a repeated key or a malformed value.
  """
  out: Dict[str, Any] = {}
  hpconfig: List[str] = []
  in_hpconfig = False
  for part in split_top_level(text):
    key, value = _assignment(part, '--vars')
    if in_hpconfig and key not in VAR_FIELDS:
      hpconfig.append(part)
      continue
    in_hpconfig = False
    if key not in VAR_FIELDS:
      raise VarsError(
        f'--vars: unknown key {key!r}; known keys: {sorted(VAR_FIELDS)}'
      )
    field = VAR_FIELDS[key]
    if field in out or (key == 'hpconfig' and hpconfig):
      raise VarsError(f'--vars: {key!r} is given twice')
    if key == 'hpconfig':
      in_hpconfig = True
      if value:
        hpconfig.append(value)
      continue
    if key in _INT_KEYS:
      try:
        out[field] = int(float(value))
      except ValueError:
        raise VarsError(
          f'--vars: {key} must be an integer, got {value!r}'
        ) from None
    elif key == 'autotune':
      if value.lower() not in ('true', 'false', '1', '0'):
        raise VarsError(f'--vars: autotune must be true or false: {value!r}')
      out[field] = value.lower() in ('true', '1')
    else:
      if not value:
        raise VarsError(f'--vars: {key} is empty')
      out[field] = value
  if hpconfig:
    out['hpconfig'] = ','.join(hpconfig)
    parse_hpconfig(out['hpconfig'])  # Fails early on a malformed value.
  return out


def parse_hpconfig(text: str) -> Dict[str, Any]:
  """`nonlinearity='tanh',learn_rate=0.01,dropouts=[0.1,0.4]` -> dict."""
  out = {}
  for part in split_top_level(text):
    key, value = _assignment(part, 'hpconfig')
    try:
      out[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      raise VarsError(
        f'hpconfig: {key} has a malformed value {value!r} (quote strings, '
        'write lists as [a,b])'
      ) from None
  return out
