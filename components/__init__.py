"""Everything that runs inside the pipeline's components.

The custom artifact types are also reachable here, as `components.<Class>`:
KFP v2 needs a custom artifact's TYPE_NAME to be an importable `module.Class`
path with a single dot, and imports it inside the container. They load
lazily so that importing this package stays cheap and free of cycles.
"""

_ARTIFACT_MODULES = {
  'Designs': 'components.design.designer_component',
  'SweepReport': 'components.search.sweep_selector',
  'ReplicaReport': 'components.evaluation.replica_report',
  'FoldingCache': 'components.features.structure.folding_cache',
  'SequenceScores': 'components.design.scoring_component',
}


def __getattr__(name):
  if name in _ARTIFACT_MODULES:
    import importlib

    return getattr(importlib.import_module(_ARTIFACT_MODULES[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
