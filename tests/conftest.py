"""Shared pytest setup."""

import os

from absl import flags

# Quieter TF logs; set before TensorFlow is imported by any test module.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# absl flags are parsed by app.run() in the runners; tests call functions.
flags.FLAGS.mark_as_parsed()
