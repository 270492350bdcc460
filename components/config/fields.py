"""Building a configuration dataclass from a dict that may hold typos."""

import dataclasses
from typing import Any
from typing import Dict


def check_known(cls, values: Dict[str, Any], what: str) -> None:
  """Raises ValueError naming every key of `values` that `cls` lacks.

  Args:
    cls: a dataclass.
    values: field name -> value, e.g. parsed from a custom_config or a flag.
    what: what the fields are, for the message ('hyper-parameters', ...).
  """
  known = [f.name for f in dataclasses.fields(cls)]
  unknown = sorted(set(values) - set(known))
  if unknown:
    raise ValueError(f'unknown {what}: {unknown}; valid names: {known}')
