"""StructureFeatures: ViennaRNA secondary-structure features for examples.

folding.py    one sequence -> features (ViennaRNA only)
executor.py   the Beam executor: dedup, cache, fold, join back
component.py  the TFX component and its spec
"""
