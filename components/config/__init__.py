"""Configuration: typed, TensorFlow-free options with their defaults and validation."""
