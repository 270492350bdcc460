"""StructureFeatures: ViennaRNA secondary-structure features for examples.

folding.py           one sequence -> features (ViennaRNA only)
worker_functions.py  what the Beam workers run: parse, fold, join back
executor.py          the Beam executor: dedup, cache, fold, join back
folding_cache.py     the cache directory as an imported MLMD artifact
component.py         the TFX component and its spec
"""
