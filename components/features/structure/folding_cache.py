"""FoldingCache: the shared cache of folded sequences as an MLMD artifact.

The cache directory outlives pipeline runs (see `executor.py` for its
layout). Importing it with `tfx.dsl.Importer` (`reimport=False`) registers it
once per URI, so MLMD records which cache every StructureFeatures execution
read and extended, and a rerun with the same directory gets the same input
artifact (and so the same TFX cache key) as the run before. A different
directory is a different artifact, just as a different `cache_dir` exec
property was before.

The artifact is the exception to "artifacts are immutable": StructureFeatures
adds shards under its URI. That is sound for a cache: shards are only ever
added, never rewritten, and a cached sequence folds to exactly the features
it holds, so no output depends on what the cache held when it ran.
"""

from tfx import types
from tfx import v1 as tfx

IMPORTER_ID = 'folding_cache_importer'


class FoldingCache(types.Artifact):
  """A directory of folded sequences, shared across runs and pipelines."""

  TYPE_NAME = 'components.FoldingCache'  # See components/__init__.py.


def importer(cache_dir: str) -> tfx.dsl.Importer:
  """The Importer node that registers `cache_dir` as a FoldingCache.

  Args:
    cache_dir: the cache directory (need not exist yet; StructureFeatures
      creates it).

  Returns:
    An Importer with id `IMPORTER_ID`; its `outputs['result']` is the
    channel StructureFeatures takes as `cache`.
  """
  return tfx.dsl.Importer(
    source_uri=cache_dir,
    artifact_type=FoldingCache,
    reimport=False,
  ).with_id(IMPORTER_ID)
