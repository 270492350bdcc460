"""Training stage: datasets, callbacks, epoch reports and the shared run set-up."""
