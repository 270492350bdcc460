"""DSL wiring and the runners: create_pipeline, its stage builders, flags, local runner."""
