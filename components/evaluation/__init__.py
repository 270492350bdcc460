"""Evaluation stage: rank metrics, the TFMA metric, the EvalConfig and replica reports."""
