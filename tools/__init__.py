"""Post-run tools: the aptamer-tfx command, the run report and truth scoring."""
