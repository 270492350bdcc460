"""Designer: a TFX component that designs aptamers with the blessed model.

It runs after the Pusher, under the same blessing condition, and checks the
blessing itself too: an unblessed model designs nothing (the output says
why in a SKIPPED file). Inputs: every replica's model (`model_0..`, so each
design carries the replicas' mean and spread), the Evaluator's blessing,
and the examples (seeds, and sequences never to design again).
"""

import json
import os
import tempfile
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.config import design as design_lib
from components.config import keys
from components.design import designer
from components.design import scoring
from components.features import binding_evidence
from components.features.structure import executor as structure_executor
from components.search import fan_in

DESIGN_CONFIG_KEY = 'design_config'
MOLECULE_ORDER_KEY = 'molecule_order'
SEQUENCE_LENGTH_KEY = 'sequence_length'
STRUCTURE_KEY = 'structure_properties'
_EVIDENCE_BATCH = 4096


class Designs(types.Artifact):
  """Designed sequences, their seeds, order files and a summary."""

  TYPE_NAME = 'components.Designs'  # See components/__init__.py.


def split_examples(examples: types.Artifact) -> Dict[str, List[bytes]]:
  """Every split's serialized examples, by split name."""
  out = {}
  for split in artifact_utils.decode_split_names(examples.split_names):
    uri = artifact_utils.get_split_uri([examples], split)
    files = sorted(tf.io.gfile.glob(os.path.join(uri, '*')))
    out[split] = [
      r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')
    ]
  return out


def sequence_of(example: bytes) -> str:
  parsed = tf.train.Example.FromString(example)
  return parsed.features.feature['sequence'].bytes_list.value[0].decode()


def training_evidence(
  model_dir: str, examples: Sequence[bytes], molecule: str
) -> Optional[np.ndarray]:
  """The log-enrichment of `molecule` per example (the model's Transform).

  None when the experiment gives that molecule no binding evidence.
  """
  feature = binding_evidence.enrichment_feature(molecule)
  transform = tf.saved_model.load(model_dir).signatures['transform_features']
  if feature not in transform.structured_outputs:
    return None
  values = []
  for start in range(0, len(examples), _EVIDENCE_BATCH):
    batch = tf.constant(list(examples[start : start + _EVIDENCE_BATCH]))
    values.append(np.asarray(transform(examples=batch)[feature]).reshape(-1))
  return np.concatenate(values) if values else np.zeros(0)


class Executor(base_executor.BaseExecutor):
  """Designs from the blessed model's replicas (components/design/designer)."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    out_dir = artifact_utils.get_single_uri(output_dict['designs'])
    # The design files are written locally, then copied: the artifact may
    # live on any tf.io.gfile filesystem (gs://, s3://) on a cluster.
    with tempfile.TemporaryDirectory(prefix='designs-') as local_dir:
      self._design(input_dict, exec_properties, local_dir)
      io_utils.copy_dir(local_dir, out_dir)

  def _design(self, input_dict, exec_properties, out_dir: str) -> None:
    blessing = artifact_utils.get_single_instance(input_dict['blessing'])
    if blessing.get_int_custom_property('blessed') != 1:
      reason = 'the model is not blessed: nothing is designed from it'
      print(f'Designer: {reason}')
      designer.write_skipped(out_dir, reason)
      return
    config = design_lib.DesignConfig.from_json_dict(
      json.loads(exec_properties[DESIGN_CONFIG_KEY])
    )
    model_dirs = [
      scoring.saved_model_dir(
        artifact_utils.get_single_uri(input_dict[f'model_{i}'])
      )
      for i in range(fan_in.branch_count(input_dict, 'model'))
    ]
    structure = exec_properties.get(STRUCTURE_KEY) or ''
    folding = (
      structure_executor.folding_parameters(json.loads(structure))
      if structure
      else None
    )
    scorer = scoring.SequenceScorer(model_dirs, folding_parameters=folding)
    affinity = designer.choose_affinity(
      config.affinity,
      scorer.molecules,
      json.loads(exec_properties[MOLECULE_ORDER_KEY]),
    )
    splits = split_examples(
      artifact_utils.get_single_instance(input_dict['examples'])
    )
    observed = sorted({sequence_of(e) for s in splits.values() for e in s})
    train = splits.get(keys.TRAIN_SPLIT, [])
    evidence = None
    if design_lib.EXPERIMENTAL_SEEDS in config.seed_sources:
      evidence = training_evidence(
        model_dirs[0], train, designer.primary_molecule(affinity)
      )
    print(
      f'Designer: {len(model_dirs)} replica(s), affinity_{affinity}, '
      f'{len(observed):,} observed sequences avoided'
    )
    summary = designer.design(
      config,
      scorer,
      affinity,
      int(exec_properties[SEQUENCE_LENGTH_KEY]),
      observed,
      [sequence_of(e) for e in train],
      evidence,
      out_dir,
    )
    for line in designer.summary_lines(summary):
      print(line)


def make_designer(
  models: List[types.BaseChannel],
  blessing: types.BaseChannel,
  examples: types.BaseChannel,
  config: design_lib.DesignConfig,
  molecule_order: Sequence[str],
  sequence_length: int,
  structure_properties: Optional[Dict[str, Any]] = None,
) -> base_component.BaseComponent:
  """A Designer over every replica's model channel.

  Args:
    models: one Trainer `model` channel per replica (the first is the
      evaluated one).
    blessing: the Evaluator's blessing of the first.
    examples: the examples the model was trained on (all splits).
    config: the design settings.
    molecule_order: the experiment's molecules, target first (the default
      affinity is the first one served).
    sequence_length: the variable region's length.
    structure_properties: StructureFeatures' folding settings, with the
      primers, when the model folds.
  """
  return fan_in.make_fan_in_component(
    'Designer',
    Executor,
    inputs={'model': list(models)},
    shared_inputs={'blessing': blessing, 'examples': examples},
    outputs={'designs': Designs},
    parameters={
      DESIGN_CONFIG_KEY: json.dumps(config.to_json_dict(), sort_keys=True),
      MOLECULE_ORDER_KEY: json.dumps(list(molecule_order)),
      SEQUENCE_LENGTH_KEY: str(sequence_length),
      STRUCTURE_KEY: json.dumps(structure_properties, sort_keys=True)
      if structure_properties
      else '',
    },
  )
