"""Experiment description, data contract and schema for aptamer-tfx."""
