"""Search stage: the search space, the Tuner, sweep selection and fan-in."""
