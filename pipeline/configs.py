"""The dataset registry, named presets, UDF paths and the split layout.

Every model, training and search default lives in `components/config/`.
"""

import dataclasses
import os
from typing import Dict
from typing import List

from components.config import keys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PIPELINE_NAME = 'aptamer-tfx'  # Hyphens: KFP v2 rejects underscores.

# UDFs by dotted path: the code is installed (or baked into the image), so
# TFX does not need to package module files into wheels.
PREPROCESSING_FN = 'components.transform_module.preprocessing_fn'
RUN_FN = 'components.trainer_module.run_fn'
TUNER_FN = 'components.tuner_module.tuner_fn'

# Cluster-disjoint splits: ExampleGen hashes the `cluster` feature into 20
# buckets, so whole sequence families land in one split: 70% train, 15%
# validation (everything that selects: best epoch, Tuner objective, sweep
# winner), 15% test (only the Evaluator's blessing and the report).
SPLIT_HASH_BUCKETS = (
  (keys.TRAIN_SPLIT, 14),
  (keys.VALIDATION_SPLIT, 3),
  (keys.TEST_SPLIT, 3),
)
EXAMPLES_PATTERN = '*.tfrecord*'
# The ExampleGen node of a run: counted examples, or FASTQ reads.
IMPORT_EXAMPLE_GEN = 'ImportExampleGen'
FASTQ_EXAMPLE_GEN = 'FastqExampleGen'
EXAMPLE_GEN_NODES = (IMPORT_EXAMPLE_GEN, FASTQ_EXAMPLE_GEN)


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A registered dataset: where it is and how counts map to affinities.

  Attributes:
    input_dir: directory with `experiment.pbtxt` and the TFRecord examples
      (or FASTQ reads); empty for a dataset made from a recipe.
    affinity_target_map: molecule -> read names whose counts measure it
      (used by the FULLY_OBSERVED output layer and for reporting).
    recipe: a simulation recipe (pipeline/simulated_datasets.py); the
      runner makes the dataset under --save_base on first use.
  """

  input_dir: str
  affinity_target_map: Dict[str, List[str]]
  recipe: str = ''


_DEMO_AFFINITY_TARGET_MAP = {
  'target': [
    'round2_high_no_serum_positive',
    'round2_medium_no_serum_positive',
  ],
  'serum': [
    'round2_high_with_serum_positive',
    'round2_medium_with_serum_positive',
  ],
}
DATASETS: Dict[str, Dataset] = {
  # The bundled simulated NGAL-like experiment (see simulation/), counted.
  'demo': Dataset(
    input_dir=os.path.join(REPO_ROOT, 'data', 'demo'),
    affinity_target_map=_DEMO_AFFINITY_TARGET_MAP,
  ),
  # The same experiment as paired-end FASTQ reads (`make demo`): the same
  # truth, simulated from its recipe on first use.
  'demo_reads': Dataset(
    input_dir='',
    affinity_target_map=_DEMO_AFFINITY_TARGET_MAP,
    recipe=os.path.join(REPO_ROOT, 'data', 'demo_reads.json'),
  ),
}

# Named configurations (`--preset`); flags given on the command line win.
PRESETS: Dict[str, Dict] = {
  # The manuscript's Counts model (MODEL_SPEC 2.8): 3 conv + 3 FC layers,
  # LATENT_AFFINITY, SQUARED_ERROR on standardised counts, one-hot and k-mer
  # inputs, the partition function (ViennaRNA) as auxiliary output,
  # positives defined at 1000 reads, best epoch every 5.
  'counts': {
    'num_conv_layers': 3,
    'num_fc_layers': 3,
    'output_layer': 'LATENT_AFFINITY',
    'loss_name': 'SQUARED_ERROR',
    'loss_norm': 'STANDARDIZE',
    'input_features': 'SEQUENCE_ONE_HOT,SEQUENCE_KMER_COUNT',
    'additional_output': 'partition_function',
    'preprocess_mode': 'PREPROCESS_SKIP_ALL_ZERO_COUNTS',
    'total_reads_defining_positive': 1000,
    'epochs': 50,
    'epoch_size': 200000,
    # Each epoch report draws a fresh 200,000 examples of each split (the
    # original's shuffled queue), as many as an epoch trains on: at a
    # million sequences the whole training split (700,000) made the report
    # cost more than the epoch's training.
    'eval_size': 200000,
    'epoch_interval_to_save_best': 5,
    'mbsz': 64,
    'max_strides': 1,
    'tuner_loss': 'auc/true_top_1p',
  },
}
