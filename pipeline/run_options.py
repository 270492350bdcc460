"""Run options shared by the local and Kubeflow runners, and their flags.

Each `RunOptions` field is one command-line flag (the playbook's names where
it had one); its default is the typed configuration's (`components/config/`),
never a second copy. Precedence, lowest first: field defaults, a named
`--preset`, flags given on the command line, then `--vars` (the playbook's
cluster string). `pipeline_config` turns options into the validated
`PipelineConfig` that `create_pipeline` takes, so every bad flag fails
before any component runs.
"""

import dataclasses
import json
import os
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from absl import flags
import tensorflow as tf

from components.config import blessing
from components.config import data_contract as data_contract_lib
from components.config import design as design_lib
from components.config import fastq as fastq_lib
from components.config import hparams as hparams_lib
from components.config import model_options
from components.config import pipeline_config as pipeline_config_lib
from components.config import structure as structure_lib
from components.config import sweep
from components.config import training as training_lib
from components.config import tuner as tuner_lib
from components.data import fastq_dataset
from pipeline import configs
from pipeline import playbook_vars
from pipeline import simulated_datasets
from schema import experiment as experiment_lib


class InputError(ValueError):
  """The dataset or the run options are unusable."""


AUTO_KIND = 'auto'
INPUT_KINDS = (AUTO_KIND, fastq_dataset.EXAMPLES, fastq_dataset.FASTQ)


def _opt(default, help_text):
  return dataclasses.field(default=default, metadata={'help': help_text})


# The typed configuration's defaults, which the flags take.
_HPARAMS = hparams_lib.HParams()
_MODEL = model_options.ModelOptions()
_TRAINING = training_lib.TrainingConfig()
_TUNER = tuner_lib.TunerConfig()
_STRUCTURE = structure_lib.StructureConfig()
_BLESSING = blessing.BlessingConfig()
_DESIGN = design_lib.DesignConfig()
_READ_QC = fastq_lib.READ_QC_DEFAULTS
_FASTQ = fastq_lib.FastqSettings()


@dataclasses.dataclass
class RunOptions:
  """Everything a run needs; the flags map one to one onto it."""

  save_base: str = _opt(
    os.path.join(configs.REPO_ROOT, 'output'), 'Base directory of all runs.'
  )
  run_name: str = _opt(
    'demo', 'Unique run name; outputs go to <save_base>/<run_name>.'
  )
  dataset: str = _opt(
    'demo', f'Registered dataset: {sorted(configs.DATASETS)}.'
  )
  input_dir: str = _opt(
    '',
    'Dataset directory (experiment.pbtxt + TFRecords, or + the FASTQ files '
    'it names); overrides --dataset.',
  )
  input_kind: str = _opt(
    'auto',
    "What --input_dir holds: 'examples' (counted TFRecords), 'fastq' (reads "
    "that FastqExampleGen filters, counts and clusters) or 'auto' (detect).",
  )
  # FastqExampleGen's read filters (the original's defaults, MODEL_SPEC 5.1),
  # used when --input_dir holds FASTQ reads.
  fastq_base_quality_threshold: int = _opt(
    _READ_QC['base_quality_threshold'],
    'FASTQ: a variable-region base scoring below this Phred quality is bad.',
  )
  fastq_max_bad_bases: int = _opt(
    _READ_QC['max_bad_bases'],
    'FASTQ: a region with more bad bases fails (low_quality).',
  )
  fastq_min_mean_quality: float = _opt(
    _READ_QC['min_mean_quality'],
    'FASTQ: a region whose mean quality is lower fails (low_quality).',
  )
  fastq_max_pair_dissimilarity: int = _opt(
    _READ_QC['max_pair_dissimilarity'],
    'FASTQ: a pair whose R1 and R2 disagree at more positions fails '
    '(bad_pair).',
  )
  fastq_max_expected_errors: float = _opt(
    _READ_QC['max_expected_errors'],
    'FASTQ: a region whose expected errors, sum of 10^(-Q/10), exceed this '
    "fails (low_quality); negative: off (the original's filters only).",
  )
  fastq_max_primer_mismatches: int = _opt(
    _READ_QC['max_primer_mismatches'],
    'FASTQ: substitutions allowed in each primer.',
  )
  fastq_max_primer_offset: int = _opt(
    _READ_QC['max_primer_offset'],
    'FASTQ: the leading primer may start at offsets 0..this of the read.',
  )
  fastq_min_trailing_primer_bases: int = _opt(
    _READ_QC['min_trailing_primer_bases'],
    'FASTQ: fewest trailing-primer bases a read ending inside it needs.',
  )
  fastq_max_distance: int = _opt(
    _FASTQ.max_distance,
    'FASTQ: sequences within this Levenshtein distance share a cluster.',
  )
  fastq_min_pass_fraction: float = _opt(
    _FASTQ.min_pass_fraction,
    'FASTQ: a file with a smaller share of okay reads fails the run.',
  )
  affinity_target_map: str = _opt(
    '',
    'Molecule -> read names for FULLY_OBSERVED affinities: a registered '
    'dataset name or JSON like {"target": ["read_a", "read_b"]}; default: '
    "the --dataset's map (none with --input_dir).",
  )
  preset: str = _opt(
    '', f'Named configuration: {sorted(configs.PRESETS)}; flags override it.'
  )
  vars: str = _opt(
    '',
    "The playbook's --vars string (run_group, output_layer, loss_name, "
    'num_fc_layers, num_conv_layers, num_replicas, autotune, hpconfig, ...).',
  )
  # Training length (the playbook's).
  epochs: int = _opt(_TRAINING.epochs, 'Training epochs (no early stopping).')
  epoch_size: int = _opt(
    _TRAINING.epoch_size,
    'Examples per epoch (1e6 accepted); 0 = the whole training split.',
  )
  eval_size: int = _opt(
    _TRAINING.eval_size,
    'Examples of each split per epoch report, a new random sample each '
    'time (as the original shuffled queue); 0 = all.',
  )
  mbsz: int = _opt(
    _TRAINING.mbsz,
    'Minibatch size (the manuscript used 64; the original default 128).',
  )
  seed: int = _opt(_TRAINING.seed, 'Random seed of the (first) training run.')
  epoch_interval_to_save_best: int = _opt(
    _TRAINING.epoch_interval_to_save_best,
    'Compare the validation split every N epochs; the best is exported.',
  )
  best_epoch_metric: str = _opt(
    _TRAINING.best_epoch_metric,
    'What picks the exported epoch on the validation split: '
    "'auc/true_top_1p' (mean over outputs, higher is better) or 'loss' (the "
    "original's lowest validation loss).",
  )
  cache_training_data: bool = _opt(
    _TRAINING.cache_training_data,
    'Keep the parsed training split in memory after the first epoch '
    '(turn off for splits larger than memory).',
  )
  steps_per_execution: int = _opt(
    _TRAINING.steps_per_execution,
    'Training steps per call of the compiled training function (at most '
    f'{training_lib.MAX_STEPS_PER_EXECUTION}; with --epoch_size, the largest '
    "divisor of the epoch's steps up to it). Same updates as 1, less "
    'per-step overhead.',
  )
  stability_auc_drop: float = _opt(
    _TRAINING.stability_auc_drop,
    'Call the run unstable when validation auc/true_top_1p stays more than '
    'this below its best so far for --stability_auc_epochs epochs.',
  )
  stability_auc_epochs: int = _opt(
    _TRAINING.stability_auc_epochs,
    'Epochs in a row the --stability_auc_drop must last (1: any dip).',
  )
  stability_loss_factor: float = _opt(
    _TRAINING.stability_loss_factor,
    'Call the run unstable when a loss exceeds this many times its lowest '
    'earlier value.',
  )
  # Network.
  num_fc_layers: int = _opt(
    _HPARAMS.num_fc_layers, 'Hidden fully connected layers.'
  )
  num_conv_layers: int = _opt(_HPARAMS.num_conv_layers, 'Convolutional layers.')
  learn_rate: Optional[float] = _opt(
    None,
    f'Learning rate (default {_HPARAMS.learn_rate}; the original: 0.005 '
    'with momentum). With a search it is sampled unless given, then pinned.',
  )
  optimizer: Optional[str] = _opt(
    None,
    f'{" or ".join(hparams_lib.OPTIMIZERS)} (default {_HPARAMS.optimizer}; '
    "'momentum' is SGD with momentum 0.9, the original's default, slower to "
    'converge on the demo). With a search it is the original momentum SGD '
    'unless given, then pinned.',
  )
  hpconfig: str = _opt(
    '',
    "Fixed hyper-parameters, e.g. nonlinearity='tanh',dropouts=[0.1,0.2]; "
    f'pinned during a search. Names: {hparams_lib.HParams.field_names()}.',
  )
  # Model choices (MODEL_SPEC 2.3).
  output_layer: str = _opt(
    _MODEL.output_layer, f'One of {sweep.OUTPUT_LAYERS}.'
  )
  loss_name: str = _opt(_MODEL.loss_name, f'One of {sweep.LOSSES}.')
  loss_norm: str = _opt(
    _MODEL.loss_norm, f'Target normaliser: one of {sweep.NORMALIZERS}.'
  )
  dependency_norm: str = _opt(
    _MODEL.dependency_norm,
    'Normaliser of parent-round counts (dependency layers).',
  )
  standardize_log_transform: bool = _opt(
    _MODEL.standardize_log_transform, 'STANDARDIZE log(1 + x) rather than x.'
  )
  binarize_threshold: float = _opt(
    _MODEL.binarize_threshold, 'BINARIZE threshold.'
  )
  input_features: str = _opt(
    ','.join(_MODEL.input_features),
    'Comma list: SEQUENCE_ONE_HOT, SEQUENCE_KMER_COUNT, '
    'STRUCTURE_PARTITION_FUNCTION (log Z), STRUCTURE_FEATURES (all five '
    'ViennaRNA features); the structure inputs turn folding on.',
  )
  kmer_k_max: int = _opt(
    _MODEL.kmer_k_max, 'Longest k-mer of SEQUENCE_KMER_COUNT.'
  )
  additional_output: str = _opt(
    '', 'Comma list of float features predicted as auxiliary targets.'
  )
  preprocess_mode: str = _opt(
    _MODEL.preprocess_mode, f'One of {model_options.PREPROCESS_MODES}.'
  )
  total_reads_defining_positive: int = _opt(
    _MODEL.total_reads_defining_positive,
    'Reads (all targets) making an example positive, for upsampling.',
  )
  min_fraction_positive: float = _opt(
    _MODEL.min_fraction_positive,
    'Upsample positives to at least this fraction.',
  )
  ratio_random_dna: float = _opt(
    _MODEL.ratio_random_dna,
    'Random sequences per real one (PREPROCESS_INJECT_RANDOM_SEQUENCES).',
  )
  # Secondary structure (ViennaRNA).
  structure_features: bool = _opt(
    False,
    'Fold every sequence with ViennaRNA and add all five of mfe, '
    'ensemble_free_energy, partition_function, boltzmann_probability, '
    'ensemble_diversity. Without it, a run whose --additional_output names '
    'one or whose --input_features has a STRUCTURE_ input folds and adds '
    'only the features the model reads.',
  )
  structure_temperature: float = _opt(
    _STRUCTURE.temperature, 'Folding temperature (deg C).'
  )
  structure_sodium: float = _opt(
    _STRUCTURE.sodium,
    'Sodium concentration (mol/L; 1.021 = standard parameters).',
  )
  structure_include_primers: bool = _opt(
    _STRUCTURE.include_primers,
    "Fold the experiment's primers with the variable region.",
  )
  structure_energy_parameters: str = _opt(
    _STRUCTURE.energy_parameters,
    f'One of {structure_lib.ENERGY_PARAMETERS} (DNA by default).',
  )
  structure_cache_dir: str = _opt(
    _STRUCTURE.cache_dir,
    'Cache of folded sequences shared across runs (empty: no cache).',
  )
  # Search and replicas.
  tuner_trials: int = _opt(
    0, 'Random-search trials (per combination); 0 = no search.'
  )
  tuner_loss: str = _opt(
    _TUNER.tuner_loss,
    f'Search objective: one of {sorted(tuner_lib.OBJECTIVES)} '
    "('auc/true_top_1p' maximised, 'loss' minimised).",
  )
  max_strides: int = _opt(_TUNER.max_strides, 'Largest conv stride searched.')
  max_rates: int = _opt(
    _TUNER.max_rates, 'Largest conv dilation rate searched.'
  )
  autotune: bool = _opt(
    False,
    'Sweep the meta-parameter grid, one search per combination '
    f'({tuner_lib.DEFAULT_NUM_TRIALS} trials each unless --tuner_trials).',
  )
  sweep_num_fc_layers: str = _opt(
    ','.join(map(str, sweep.DEFAULT_NUM_FC_LAYERS)),
    'Sweep grid: FC layer counts.',
  )
  sweep_num_conv_layers: str = _opt('0', 'Sweep grid: conv layer counts.')
  sweep_output_layers: str = _opt(
    ','.join(sweep.OUTPUT_LAYERS), 'Sweep grid: output layers.'
  )
  sweep_loss_names: str = _opt(
    ','.join(sweep.DEFAULT_LOSSES), 'Sweep grid: losses (each with its norm).'
  )
  num_replicas: int = _opt(
    1, 'Trainers of the chosen configuration with seeds seed..seed+N-1.'
  )
  serve_replica_mean: bool = _opt(
    True,
    'With --num_replicas > 1, the Evaluator judges and the Pusher serves '
    'the mean of the replicas (ReplicaMean; their standard deviation in '
    'its serve_sequences_spread signature); off: the first replica.',
  )
  # Validation and execution.
  min_auc_true_top_1p: float = _opt(
    _BLESSING.min_auc_true_top_1p,
    'Blessing threshold: mean over outputs of auc/true_top_1p on the '
    'held-out clusters (0.5 = chance).',
  )
  min_spearman: float = _opt(
    -1.0,
    'Optional blessing threshold on the mean Spearman correlation over '
    'outputs (overall slice); -1 = none.',
  )
  min_affinity_auc: float = _opt(
    _BLESSING.min_affinity_auc,
    'Blessing threshold per affinity output with binding evidence: ROC-AUC '
    "against the test split's hits at the most stringent level with at "
    'least 10 of them (0.5 = chance, below = inverted).',
  )
  min_affinity_spearman: float = _opt(
    _BLESSING.min_affinity_spearman,
    'Blessing threshold per affinity output with binding evidence: Spearman '
    'correlation with the held-out log-enrichment (0 = chance).',
  )
  max_count: int = _opt(
    data_contract_lib.DEFAULT_MAX_COUNT,
    'DataContractCheck refuses a read count above this (one sequence, one '
    'pool): far above any real depth, so a larger one is a corrupted value.',
  )
  # Design (after the Pusher, a blessed model only).
  design: bool = _opt(
    _DESIGN.enabled,
    'Design new aptamers with the blessed model: seeds, a model-guided '
    'walk, order files (the Designer component).',
  )
  design_seed_sources: str = _opt(
    ','.join(_DESIGN.seed_sources),
    "Seeds: 'experimental' (strongest count evidence in the training "
    "split), 'ml' (best of --design_random_pool random sequences), 'file' "
    '(--design_seed_file; added when that is given).',
  )
  design_seeds: int = _opt(
    _DESIGN.num_seeds,
    'Seeds taken from each of the experimental and ML sources.',
  )
  design_seed_file: str = _opt(
    _DESIGN.seed_file, 'FASTA, text or CSV file of your own seeds.'
  )
  design_per_seed: int = _opt(
    _DESIGN.per_seed,
    "Designs per seed over five walk steps (11: the original's 2,2,2,0,5).",
  )
  design_random_pool: int = _opt(
    _DESIGN.random_pool,
    'Random sequences scored for the ML seeds (the original: 10000000).',
  )
  design_walker: str = _opt(
    _DESIGN.walker, f'{" or ".join(design_lib.WALKERS)}.'
  )
  design_sampling_limit: int = _opt(
    _DESIGN.sampling_limit, 'Candidates scored per seed and walk step.'
  )
  design_max_trials: int = _opt(
    _DESIGN.max_trials,
    'Proposals tried per seed and step (repeats and constraint violations '
    'are redrawn until then).',
  )
  design_n_parents: int = _opt(
    _DESIGN.n_parents, 'Best candidates of a step that the next one mutates.'
  )
  design_min_distance: int = _opt(
    _DESIGN.min_distance, 'Fewest point substitutions per walk step.'
  )
  design_max_distance: int = _opt(
    _DESIGN.max_distance, 'Most point substitutions per walk step.'
  )
  design_gc_range: str = _opt(
    '', 'low,high GC fraction every design must have, e.g. 0.3,0.7.'
  )
  design_forbidden_motifs: str = _opt(
    '', 'Comma list of motifs no design may contain, e.g. AAAAA,GGGG.'
  )
  design_affinity: str = _opt(
    '',
    'Served latent to design by (e.g. target_vs_serum); default: the first '
    'the experiment identifies for its first molecule.',
  )
  design_random_seed: int = _opt(
    _DESIGN.random_seed, 'Seed of every random choice of the walk.'
  )
  beam_mode: str = _opt(
    'in_memory',
    "DirectRunner preset: 'in_memory' or 'multi_processing' (workers).",
  )
  beam_num_workers: int = _opt(
    0, 'Workers of --beam_mode=multi_processing (0: one per core).'
  )
  enable_cache: bool = _opt(True, 'Reuse results of unchanged components.')
  verbosity: int = _opt(
    0,
    '0: one line per component on the console, full log in <run dir>/logs/'
    'run.log; 1: the full TFX/absl log on the console too.',
  )

  @property
  def run_dir(self) -> str:
    return os.path.join(self.save_base, self.run_name)

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.run_dir, 'pipeline')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.run_dir, 'metadata.db')

  @property
  def serving_model_dir(self) -> str:
    return os.path.join(self.run_dir, 'serving_model')

  def with_vars(self) -> 'RunOptions':
    """These options with `vars` applied (autotune pins what --vars names)."""
    if not self.vars:
      return self
    values = playbook_vars.parse_vars(self.vars)
    updated = dataclasses.replace(self, **values, vars='')
    if updated.autotune:
      # With a sweep, meta-parameters named in --vars are pinned and the
      # playbook's num_replicas is the number of random trials each.
      pins = {
        'output_layer': 'sweep_output_layers',
        'loss_name': 'sweep_loss_names',
        'num_fc_layers': 'sweep_num_fc_layers',
        'num_conv_layers': 'sweep_num_conv_layers',
      }
      changes = {pins[k]: str(values[k]) for k in pins if k in values}
      if 'num_replicas' in values:
        changes.update(tuner_trials=values['num_replicas'], num_replicas=1)
      updated = dataclasses.replace(updated, **changes)
    return updated


def _csv(text: str) -> List[str]:
  return [p.strip() for p in text.split(',') if p.strip()]


def hparams(options: RunOptions) -> Dict[str, Any]:
  """HParams fields fixed for every Trainer and Tuner.

  Without a search: the layer counts, the optimiser and learning rate (the
  defaults unless given) and hpconfig. With one: the layer counts, hpconfig
  and whichever of --optimizer and --learn_rate was given, all pinned.
  """
  fixed = {
    'num_fc_layers': options.num_fc_layers,
    'num_conv_layers': options.num_conv_layers,
  }
  searching = options.tuner_trials or options.autotune
  for name in ('learn_rate', 'optimizer'):
    value = getattr(options, name)
    if value is not None:
      fixed[name] = value
    elif not searching:
      fixed[name] = getattr(_HPARAMS, name)
  return {**fixed, **playbook_vars.parse_hpconfig(options.hpconfig)}


def affinity_target_map(options: RunOptions) -> Dict[str, List[str]]:
  """The affinity-target map the options name (see the flag's help)."""
  text = options.affinity_target_map
  if not text:
    if options.input_dir or options.dataset not in configs.DATASETS:
      return {}
    return dict(configs.DATASETS[options.dataset].affinity_target_map)
  if text in configs.DATASETS:
    return dict(configs.DATASETS[text].affinity_target_map)
  try:
    value = json.loads(text)
  except json.JSONDecodeError:
    raise ValueError(
      f'--affinity_target_map={text!r} is neither a registered dataset '
      f'({sorted(configs.DATASETS)}) nor JSON'
    ) from None
  if not isinstance(value, dict) or not all(
    isinstance(v, list) for v in value.values()
  ):
    raise ValueError('--affinity_target_map JSON must map names to lists')
  return value


def model(options: RunOptions) -> model_options.ModelOptions:
  """The model options (validated)."""
  return model_options.ModelOptions(
    output_layer=options.output_layer,
    loss_name=options.loss_name,
    loss_norm=options.loss_norm,
    dependency_norm=options.dependency_norm,
    standardize_log_transform=options.standardize_log_transform,
    binarize_threshold=options.binarize_threshold,
    input_features=tuple(_csv(options.input_features)),
    kmer_k_max=options.kmer_k_max,
    additional_outputs=tuple(_csv(options.additional_output)),
    affinity_target_map=affinity_target_map(options),
    preprocess_mode=options.preprocess_mode,
    total_reads_defining_positive=options.total_reads_defining_positive,
    min_fraction_positive=options.min_fraction_positive,
    ratio_random_dna=options.ratio_random_dna,
  )


def training(options: RunOptions) -> training_lib.TrainingConfig:
  """The Trainer's and Tuner's training settings (validated)."""
  return training_lib.TrainingConfig(
    epochs=options.epochs,
    epoch_size=int(options.epoch_size),
    eval_size=int(options.eval_size),
    mbsz=options.mbsz,
    seed=options.seed,
    epoch_interval_to_save_best=options.epoch_interval_to_save_best,
    best_epoch_metric=options.best_epoch_metric,
    cache_training_data=options.cache_training_data,
    stability_auc_drop=options.stability_auc_drop,
    stability_auc_epochs=options.stability_auc_epochs,
    stability_loss_factor=options.stability_loss_factor,
    steps_per_execution=options.steps_per_execution,
  )


def sweep_grid(options: RunOptions) -> List[sweep.MetaCombination]:
  """The meta-parameter combinations of an autotune run ([] otherwise)."""
  if not options.autotune:
    return []

  def ints(flag: str) -> List[int]:
    text = getattr(options, flag)
    try:
      return [int(v) for v in _csv(text)]
    except ValueError:
      raise ValueError(
        f'--{flag} must be a comma list of integers, got {text!r}'
      ) from None

  return sweep.grid(
    num_fc_layers=ints('sweep_num_fc_layers'),
    num_conv_layers=ints('sweep_num_conv_layers'),
    output_layers=_csv(options.sweep_output_layers),
    loss_names=_csv(options.sweep_loss_names),
  )


def tuner(options: RunOptions) -> Optional[tuner_lib.TunerConfig]:
  """Random-search settings, or None when nothing is searched."""
  if options.tuner_trials < 0:
    raise ValueError(
      f'--tuner_trials must be at least 0, got {options.tuner_trials}'
    )
  if not (options.tuner_trials or options.autotune):
    return None
  return tuner_lib.TunerConfig(
    num_trials=options.tuner_trials or tuner_lib.DEFAULT_NUM_TRIALS,
    tuner_loss=options.tuner_loss,
    max_strides=options.max_strides,
    max_rates=options.max_rates,
  )


def structure(options: RunOptions) -> Optional[structure_lib.StructureConfig]:
  """StructureFeatures settings, or None when nothing needs folding.

  It computes the features the model reads, or all five when
  --structure_features asks for them.
  """
  read = model(options).structure_features_read
  if not (options.structure_features or read):
    return None
  return structure_lib.StructureConfig(
    temperature=options.structure_temperature,
    sodium=options.structure_sodium,
    include_primers=options.structure_include_primers,
    energy_parameters=options.structure_energy_parameters,
    cache_dir=options.structure_cache_dir,
    features=structure_lib.FEATURES if options.structure_features else read,
  )


def fastq(options: RunOptions) -> fastq_lib.FastqSettings:
  """FastqExampleGen's thresholds (validated; the message names the flag)."""
  values = {
    name: getattr(options, fastq_lib.FLAG_PREFIX + name)
    for name in fastq_lib.READ_QC_FIELDS
  }
  errors = values['max_expected_errors']
  if errors is not None and errors < 0:
    values['max_expected_errors'] = None
  try:
    return fastq_lib.FastqSettings(
      read_qc=values,
      max_distance=options.fastq_max_distance,
      min_pass_fraction=options.fastq_min_pass_fraction,
    )
  except ValueError as e:
    raise ValueError(f'--{fastq_lib.FLAG_PREFIX}{e}') from None


def _gc_range(text: str) -> Optional[Tuple[float, float]]:
  if not text:
    return None
  try:
    low, high = (float(v) for v in text.split(','))
  except ValueError:
    raise ValueError(
      f'--design_gc_range must be low,high (e.g. 0.3,0.7), got {text!r}'
    ) from None
  return low, high


def design(options: RunOptions) -> design_lib.DesignConfig:
  """The Designer's settings (validated)."""
  return design_lib.DesignConfig(
    enabled=options.design,
    seed_sources=tuple(_csv(options.design_seed_sources)),
    num_seeds=options.design_seeds,
    seed_file=options.design_seed_file,
    per_seed=options.design_per_seed,
    random_pool=options.design_random_pool,
    walker=options.design_walker,
    sampling_limit=options.design_sampling_limit,
    max_trials=options.design_max_trials,
    n_parents=options.design_n_parents,
    min_distance=options.design_min_distance,
    max_distance=options.design_max_distance,
    gc_range=_gc_range(options.design_gc_range),
    forbidden_motifs=tuple(
      m.upper() for m in _csv(options.design_forbidden_motifs)
    ),
    affinity=options.design_affinity,
    random_seed=options.design_random_seed,
  )


def pipeline_config(options: RunOptions) -> pipeline_config_lib.PipelineConfig:
  """The validated configuration `create_pipeline` takes.

  Raises:
    InputError: any option is invalid; the message names the flag.
  """
  try:
    return pipeline_config_lib.PipelineConfig(
      hparams=hparams(options),
      model=model(options),
      training=training(options),
      tuner=tuner(options),
      sweep=tuple(sweep_grid(options)),
      num_replicas=options.num_replicas,
      serve_replica_mean=options.serve_replica_mean,
      structure=structure(options),
      blessing=blessing.BlessingConfig(
        min_auc_true_top_1p=options.min_auc_true_top_1p,
        min_spearman=None
        if options.min_spearman <= -1
        else options.min_spearman,
        min_affinity_auc=options.min_affinity_auc,
        min_affinity_spearman=options.min_affinity_spearman,
      ),
      data_contract=data_contract_lib.DataContractConfig(
        max_count=options.max_count
      ),
      design=design(options),
      fastq=fastq(options),
    )
  except ValueError as e:
    raise InputError(str(e)) from e


# Sizes the playbook writes in scientific notation (`--epoch_size=1e6`).
_SIZE_FIELDS = ('epoch_size', 'eval_size')
# Fields whose default None means "the configuration's default".
_OPTIONAL_TYPES = {'learn_rate': float, 'optimizer': str}


def define_flags(skip=()) -> Dict[str, flags.FlagHolder]:
  """One absl flag per RunOptions field (except `skip`)."""
  holders = {}
  for field in dataclasses.fields(RunOptions):
    if field.name in skip:
      continue
    if field.name == 'verbosity':
      # absl.logging defines --verbosity (-v) in every absl program: reuse it.
      flag = flags.FLAGS[field.name]
      flag.help = f'{field.metadata["help"]} 2: DEBUG records too.'
      holders[field.name] = flags.FlagHolder(flags.FLAGS, flag)
      continue
    default = field.default
    help_text = field.metadata['help']
    if field.name in _SIZE_FIELDS:
      holders[field.name] = flags.DEFINE_float(field.name, default, help_text)
      continue
    define = {
      bool: flags.DEFINE_bool,
      int: flags.DEFINE_integer,
      float: flags.DEFINE_float,
      str: flags.DEFINE_string,
    }[_OPTIONAL_TYPES.get(field.name, field.type)]
    holders[field.name] = define(field.name, default, help_text)
  return holders


def from_flags(holders: Dict[str, flags.FlagHolder]) -> RunOptions:
  """RunOptions from parsed flags: preset, then explicit flags, then vars."""
  preset_name = holders['preset'].value if 'preset' in holders else ''
  if preset_name and preset_name not in configs.PRESETS:
    raise InputError(
      f'--preset={preset_name!r} is unknown; known: {sorted(configs.PRESETS)}'
    )
  values = dict(configs.PRESETS.get(preset_name, {}))
  for name, holder in holders.items():
    if holder.present or name not in values:
      values[name] = holder.value
  for name in _SIZE_FIELDS:
    if name in values:
      values[name] = int(values[name])
  return RunOptions(**values).with_vars()


def join_uri(root: str, *parts: str) -> str:
  """Joins URI or path parts with '/', for gs:// as for local paths."""
  return '/'.join([root.rstrip('/'), *parts])


def dataset_recipe(options: RunOptions) -> str:
  """The --dataset's simulation recipe; '' with --input_dir or none."""
  if options.input_dir or options.dataset not in configs.DATASETS:
    return ''
  return configs.DATASETS[options.dataset].recipe


def resolve_input_dir(options: RunOptions) -> str:
  """`--input_dir` if given, else the registered dataset's directory."""
  if options.input_dir:
    return options.input_dir
  if options.dataset not in configs.DATASETS:
    raise InputError(
      f'--dataset={options.dataset!r} is not registered; known datasets: '
      f'{sorted(configs.DATASETS)} (or pass --input_dir)'
    )
  if dataset_recipe(options):
    # Made from its recipe by the runner (pipeline/simulated_datasets.py).
    return simulated_datasets.dataset_dir(options.save_base, options.dataset)
  return configs.DATASETS[options.dataset].input_dir


def dataset_kind(options: RunOptions, input_dir: str) -> str:
  """'examples' or 'fastq': `--input_kind`, or what the directory holds.

  Raises:
    InputError: the directory holds both or neither, or its FASTQ layout
      does not match the experiment (the message names the read or file).
  """
  if options.input_kind not in INPUT_KINDS:
    raise InputError(
      f'--input_kind must be one of {list(INPUT_KINDS)}, got '
      f'{options.input_kind!r}'
    )
  if not tf.io.gfile.isdir(input_dir):
    raise InputError(f'{input_dir}: dataset directory not found')
  if options.input_kind != AUTO_KIND:
    return options.input_kind
  try:
    return fastq_dataset.dataset_kind(input_dir)
  except fastq_dataset.FastqDatasetError as e:
    raise InputError(str(e)) from e


def load_experiment_text(
  input_dir: str, kind: str = fastq_dataset.EXAMPLES
) -> str:
  """Checks a dataset directory and returns its experiment text.

  Uses tf.io.gfile only, so gs:// (and any other registered scheme) works.

  Args:
    input_dir: the dataset directory.
    kind: 'examples' (TFRecords must be there) or 'fastq' (every read name
      of the experiment must have its FASTQ files, and no FASTQ file may be
      left unclaimed).

  Raises:
    InputError: the directory, its experiment, its examples or its FASTQ
      files are missing or do not match.
    schema.experiment.ExperimentError: the experiment is invalid.
  """
  if not tf.io.gfile.isdir(input_dir):
    raise InputError(f'{input_dir}: dataset directory not found')
  path = join_uri(input_dir, experiment_lib.EXPERIMENT_FILENAME)
  experiment = experiment_lib.load_experiment(path)  # Names the file.
  if kind == fastq_dataset.FASTQ:
    try:
      fastq_dataset.fastq_files(experiment, input_dir)
    except fastq_dataset.FastqDatasetError as e:
      raise InputError(str(e)) from e
  elif not tf.io.gfile.glob(join_uri(input_dir, configs.EXAMPLES_PATTERN)):
    raise InputError(
      f'{input_dir}: no TFRecord examples matching {configs.EXAMPLES_PATTERN!r}'
    )
  with tf.io.gfile.GFile(path, 'r') as f:
    return f.read()
