"""FastqExampleGen: FASTQ reads to counted, clustered tf.Examples.

executor.py          the Beam executor: config, pipeline, TFX's split layout
worker_functions.py  what the Beam workers run: read QC, counts, clusters,
                     statistics, examples (no TensorFlow, no TFX)
component.py         the TFX component (a FileBasedExampleGen) and its builder
"""
