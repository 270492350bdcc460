"""Meta-parameter combinations: the grid that the sweep fans out over.

Meta-parameters are model choices that random search must not vary (the
playbook's distinction): layer counts, output layer, loss and the target
normaliser that goes with the loss. Each combination gets its own Tuner.
"""

import dataclasses
import itertools
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

from components.config import hparams

OUTPUT_LAYERS = (
  'FULLY_OBSERVED',
  'LATENT_AFFINITY',
  'LATENT_WITH_DEPS',
  'LATENT_WITH_PRED_DEPS',
  'LATENT_WITH_CROSS_DEPS',
)
LOSSES = (
  'SQUARED_ERROR',
  'CROSS_ENTROPY',
  'POISSON_LOSS',
  'ZERO_TRUNCATED_POISSON_LOSS',
)
# The playbook's default grid: 0-3 FC layers x 5 output layers x 2 losses.
DEFAULT_NUM_FC_LAYERS = (0, 1, 2, 3)
DEFAULT_LOSSES = ('SQUARED_ERROR', 'CROSS_ENTROPY')
# Target normalisers (MODEL_SPEC 2.4, `components.features.normalizers`).
NORMALIZERS = ('STANDARDIZE', 'BINARIZE', 'TOTAL_COUNTS', 'SKIP')

# The normaliser each loss is meaningful with: cross-entropy needs targets
# in [0, 1]; the Poisson losses need raw counts (the original enforced SKIP).
DEFAULT_LOSS_NORM = {
  'SQUARED_ERROR': 'STANDARDIZE',
  'CROSS_ENTROPY': 'BINARIZE',
  'POISSON_LOSS': 'SKIP',
  'ZERO_TRUNCATED_POISSON_LOSS': 'SKIP',
}
# The Poisson losses take raw counts as their targets (the original's
# `create_output_layer` enforced SKIP).
SKIP_NORMALISATION_LOSSES = ('POISSON_LOSS', 'ZERO_TRUNCATED_POISSON_LOSS')
# The model choices among the meta-parameters (the rest are layer counts).
MODEL_META = ('output_layer', 'loss_name', 'loss_norm')
META_PARAMETERS = hparams.LAYER_COUNTS + MODEL_META


def check_model_meta(output_layer: str, loss_name: str, loss_norm: str):
  """Raises ValueError for an unknown output layer or loss, or a loss
  paired with a normaliser it is meaningless with."""
  if output_layer not in OUTPUT_LAYERS:
    raise ValueError(
      f'output_layer must be one of {OUTPUT_LAYERS}, got {output_layer!r}'
    )
  if loss_name not in LOSSES:
    raise ValueError(f'loss_name must be one of {LOSSES}, got {loss_name!r}')
  if loss_norm not in NORMALIZERS:
    raise ValueError(
      f'loss_norm must be one of {NORMALIZERS}, got {loss_norm!r}'
    )
  if loss_name in SKIP_NORMALISATION_LOSSES and loss_norm != 'SKIP':
    raise ValueError(
      f'{loss_name} needs loss_norm=SKIP (raw counts), got {loss_norm}'
    )


@dataclasses.dataclass(frozen=True)
class MetaCombination:
  """One combination of meta-parameters."""

  num_fc_layers: int
  num_conv_layers: int
  output_layer: str
  loss_name: str
  loss_norm: str

  def __post_init__(self):
    check_model_meta(self.output_layer, self.loss_name, self.loss_norm)
    if self.num_fc_layers < 0 or self.num_conv_layers < 0:
      raise ValueError('layer counts must be >= 0')

  def as_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


def grid(
  num_fc_layers: Optional[Sequence[int]] = None,
  num_conv_layers: Optional[Sequence[int]] = None,
  output_layers: Optional[Sequence[str]] = None,
  loss_names: Optional[Sequence[str]] = None,
  loss_norm: Optional[str] = None,
) -> List[MetaCombination]:
  """Every combination of the given values; None means the playbook default.

  Args:
    num_fc_layers: FC layer counts (default 0, 1, 2, 3).
    num_conv_layers: conv layer counts (default 0, the original's default).
    output_layers: output layers (default all five).
    loss_names: losses (default SQUARED_ERROR and CROSS_ENTROPY).
    loss_norm: target normaliser for every combination; None picks each
      loss's own (`DEFAULT_LOSS_NORM`).

  Returns:
    The combinations in a stable order (40 with all defaults).
  """
  combos = itertools.product(
    num_fc_layers if num_fc_layers is not None else DEFAULT_NUM_FC_LAYERS,
    num_conv_layers if num_conv_layers is not None else (0,),
    output_layers or OUTPUT_LAYERS,
    loss_names or DEFAULT_LOSSES,
  )
  return [
    MetaCombination(fc, conv, layer, loss, loss_norm or DEFAULT_LOSS_NORM[loss])
    for fc, conv, layer, loss in combos
  ]
