"""Post-run tools: the aptamer-tfx command, the run report, truth scoring, MLMD look-ups."""
