"""FASTQ reading and per-read quality control, before counting sequences."""
