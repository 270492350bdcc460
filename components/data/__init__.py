"""Data stage: the experiment schema and the data-contract check before training."""
