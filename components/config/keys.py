"""Names shared across processes: custom_config keys and artifact file names.

TensorFlow-free, so the pipeline, the runners and the post-run tools can
name what a component reads or writes without importing the component.
"""

# ExampleGen's cluster-disjoint splits. `validation` serves every selection
# (best epoch, Tuner objective, sweep winner, replica choice); `test` only
# the Evaluator's blessing and the report.
TRAIN_SPLIT = 'train'
VALIDATION_SPLIT = 'validation'
TEST_SPLIT = 'test'

# The data contract's features besides the read counts (experiment_schema.py).
SEQUENCE_FEATURE = 'sequence'
CLUSTER_FEATURE = 'cluster'

# Trainer and Tuner custom_config (one serialised `RunConfig`).
EXPERIMENT_KEY = 'experiment_pbtxt'
HPARAMS_KEY = 'hparams'
MODEL_KEY = 'model'
TRAINING_KEY = 'training'
TUNER_KEY = 'tuner'

# Transform custom_config (one serialised `TransformConfig`).
SEQUENCE_LENGTH_KEY = 'sequence_length'
TARGET_NAMES_KEY = 'target_names'
PARENT_NAMES_KEY = 'parent_names'  # target read -> parent read ('' = none)
INPUT_FEATURES_KEY = 'input_features'
KMER_K_MAX_KEY = 'kmer_k_max'
DEPENDENCY_NORM_KEY = 'dependency_norm'
STANDARDIZE_LOG_KEY = 'standardize_log_transform'
BINARIZE_THRESHOLD_KEY = 'binarize_threshold'
ADDITIONAL_OUTPUTS_KEY = 'additional_outputs'
# Every target normaliser some Trainer or Tuner needs (a sweep mixes them).
TARGET_NORMS_KEY = 'target_norms'
# Reads of rounds without an input (e.g. the library): abundance slices.
INPUT_READS_KEY = 'input_reads'

# Files a Trainer writes into its model_run directory.
HPARAMS_FILENAME = 'hparams.json'
BEST_EPOCH_FILENAME = 'best_epoch.json'
HISTORY_FILENAME = 'history.json'
EPOCH_REPORT_FILENAME = 'epoch_report.jsonl'
STABILITY_FILENAME = 'stability.json'

# Files a Tuner writes into its tuner_results directory.
TRIALS_FILENAME = 'trials.json'
BEST_HPARAMS_FILENAME = 'best_hyperparameters.txt'
