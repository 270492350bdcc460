"""FastqExampleGen: FASTQ reads to counted, clustered tf.Examples.

executor.py   the Beam executor: read QC, counts, clusters, statistics
component.py  the TFX component (a FileBasedExampleGen) and its builder
"""
