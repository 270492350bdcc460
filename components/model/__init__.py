"""Model stage: the network, its output layers, losses and serving signatures."""
