"""StructureFeatures: a Beam TFX component adding ViennaRNA features.

Defined in an importable module (not `__main__`) so that compiled pipelines,
KubeflowV2DagRunner's included, can name the executor by import path.
"""

from typing import Optional
from typing import Sequence

from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec
from tfx.types import component_spec

from components.features.structure import executor
from components.features.structure import folding
from components.features.structure import folding_cache


class StructureFeaturesSpec(component_spec.ComponentSpec):
  """Inputs, outputs and exec properties of StructureFeatures.

  `include_primers` is an int (0/1), as TFX stores booleans of its own
  components (e.g. Transform's `force_tf_compat_v1`), which every
  orchestrator can carry. The folding cache is an optional input artifact
  (`folding_cache.FoldingCache`, imported by `folding_cache.importer`), so
  MLMD records which cache each execution read and extended.
  """

  PARAMETERS = {
    executor.TEMPERATURE_KEY: component_spec.ExecutionParameter(type=float),
    executor.SODIUM_KEY: component_spec.ExecutionParameter(type=float),
    executor.INCLUDE_PRIMERS_KEY: component_spec.ExecutionParameter(type=int),
    executor.FORWARD_PRIMER_KEY: component_spec.ExecutionParameter(type=str),
    executor.REVERSE_PRIMER_KEY: component_spec.ExecutionParameter(type=str),
    executor.SEQUENCE_FEATURE_KEY: component_spec.ExecutionParameter(type=str),
    executor.ENERGY_PARAMETERS_KEY: component_spec.ExecutionParameter(type=str),
    executor.FEATURES_KEY: component_spec.ExecutionParameter(
      type=str, optional=True
    ),
  }
  INPUTS = {
    executor.EXAMPLES_KEY: component_spec.ChannelParameter(
      type=tfx.types.standard_artifacts.Examples
    ),
    executor.CACHE_KEY: component_spec.ChannelParameter(
      type=folding_cache.FoldingCache, optional=True
    ),
  }
  OUTPUTS = {
    executor.AUGMENTED_EXAMPLES_KEY: component_spec.ChannelParameter(
      type=tfx.types.standard_artifacts.Examples
    ),
  }


class StructureFeatures(tfx.types.BaseBeamComponent):
  """Adds secondary-structure features of each sequence to its examples.

  Every example of every split keeps its features and gains the float
  features asked for (by default all five), computed by ViennaRNA once per
  unique sequence (see `folding.py`): `mfe`, `ensemble_free_energy`,
  `partition_function`, `boltzmann_probability` and `ensemble_diversity`.
  Runs on any Beam runner (the pipeline's
  `beam_pipeline_args`); every worker loads the energy parameters itself.

  ## Example
  ```
    # Registers the shared cache of folded sequences in MLMD.
    cache = folding_cache.importer(os.path.join(data_root, 'fold_cache'))
    # Folds each sequence with DNA parameters at the binding temperature.
    structure = StructureFeatures(
        examples=example_gen.outputs['examples'],
        temperature=25.0,
        cache=cache.outputs['result'])
  ```

  Component `outputs` contains:
   - `augmented_examples`: Channel of type `standard_artifacts.Examples`
     (not `examples`: TFX wants input and output keys distinct), the input
     splits (gzip TFRecords `data_tfrecord-*.gz`) with the new features. Its
     int custom properties `examples`, `unique_sequences`, `cache_hits` and
     `folded` count the work done.
  """

  SPEC_CLASS = StructureFeaturesSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(
    self,
    examples: types.BaseChannel,
    temperature: float = folding.DEFAULT_TEMPERATURE,
    sodium: float = folding.DEFAULT_SODIUM,
    include_primers: bool = False,
    forward_primer: str = '',
    reverse_primer: str = '',
    sequence_feature: str = 'sequence',
    energy_parameters: str = folding.DNA_MATHEWS2004,
    cache: Optional[types.BaseChannel] = None,
    features: Sequence[str] = folding.FEATURES,
  ):
    """Constructs a StructureFeatures component.

    Args:
      examples: Examples with a bytes feature `sequence_feature` (A/C/G/T)
        in every example, e.g. ImportExampleGen's output.
      temperature: folding temperature in °C; 37.0 is ViennaRNA's default.
      sodium: sodium concentration in mol/L for ViennaRNA's salt
        correction; 1.021 (the default) is the concentration of the standard
        parameters, i.e. no correction.
      include_primers: fold forward_primer + sequence + reverse_primer (the
        full aptamer) instead of the variable region alone.
      forward_primer: the experiment's forward primer (A/C/G/T); used only
        with include_primers.
      reverse_primer: the experiment's reverse primer (A/C/G/T); used only
        with include_primers.
      sequence_feature: name of the sequence feature.
      energy_parameters: 'dna_mathews2004' (default, DNA aptamers) or
        'rna_turner2004' (ViennaRNA's RNA default).
      cache: a `folding_cache.FoldingCache` channel (e.g.
        `folding_cache.importer(cache_dir).outputs['result']`): the directory
        shared between runs where folded features are kept per sequence and
        folding parameters (see `executor.py`); None: no cache.
      features: the features to compute and add, any of `folding.FEATURES`
        (all five by default); each costs its own ViennaRNA work.

    Raises:
      StructureFeaturesError: a parameter value is invalid.
    """
    parameters = {
      executor.TEMPERATURE_KEY: temperature,
      executor.SODIUM_KEY: sodium,
      executor.INCLUDE_PRIMERS_KEY: int(bool(include_primers)),
      executor.FORWARD_PRIMER_KEY: forward_primer,
      executor.REVERSE_PRIMER_KEY: reverse_primer,
      executor.SEQUENCE_FEATURE_KEY: sequence_feature,
      executor.ENERGY_PARAMETERS_KEY: energy_parameters,
      executor.FEATURES_KEY: ','.join(features),
    }
    if all(isinstance(v, (int, float, str)) for v in parameters.values()):
      # Fails at pipeline construction rather than at run time.
      executor.folding_parameters(parameters)
      if include_primers and not (forward_primer or reverse_primer):
        raise executor.StructureFeaturesError(
          'include_primers is set but no primer was given'
        )
    super().__init__(
      spec=StructureFeaturesSpec(
        examples=examples,
        cache=cache,
        augmented_examples=types.Channel(
          type=tfx.types.standard_artifacts.Examples
        ),
        **parameters,
      )
    )
