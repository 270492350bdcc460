"""Trainer `run_fn`: trains the aptamer model and exports it with signatures.

Exported signatures (all return predicted normalised counts per read column,
keyed by read name, each additional output by its name, and
`affinity_<molecule>` latent affinities):
  * `serving_default`: serialized tf.Examples (only `sequence` is read, and
    the structure features a model with structure inputs needs), the form
    TFMA and BulkInferrer feed.
  * `serve_sequences`: raw sequence strings (`sequences`); a model with
    structure inputs also takes each structure feature it needs as a
    float32 vector named like the example feature (e.g. `partition_function`,
    from `components.features.structure.folding.fold`).
  * `transform_features`: serialized tf.Examples -> transformed features, for
    TFMA's preprocessing of labels.
"""

import dataclasses
import json
import os
from typing import Any
from typing import Dict
from typing import List

from absl import logging
import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from components.config import model_options as options_lib
from components.features import encodings
from components.model import losses
from components.model import network as model_lib
from components.search import search_space
from components.training import callbacks as training_callbacks
from components.training import datasets
from components.training import epoch_evaluation
from schema import experiment as experiment_lib

# custom_config keys (set by pipeline.create_pipeline).
EXPERIMENT_KEY = 'experiment_pbtxt'
HPARAMS_KEY = 'hparams'
MODEL_KEY = 'model'
TRAINING_KEY = 'training'

HPARAMS_FILENAME = 'hparams.json'
BEST_EPOCH_FILENAME = 'best_epoch.json'


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  """The playbook's training-length settings."""

  epochs: int = 5
  epoch_size: int = 0  # 0: one pass over the whole training split.
  eval_size: int = 0  # Examples per epoch report and split; 0: all.
  mbsz: int = 128
  seed: int = 0
  epoch_interval_to_save_best: int = 5
  # Keep the parsed training split in memory after the first epoch.
  cache_training_data: bool = True

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'TrainingConfig':
    known = {f.name: f.type for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
      raise ValueError(f'unknown training settings: {sorted(unknown)}')
    return cls(
      **{
        k: bool(v) if known[k] in (bool, 'bool') else int(v)
        for k, v in values.items()
      }
    )


@dataclasses.dataclass
class RunSetup:
  """Everything a training run derives from its custom_config."""

  experiment: Any
  training: TrainingConfig
  options: options_lib.ModelOptions
  hparams: model_lib.HParams
  signs: experiment_lib.SelectionSigns


def split_tuner_values(values: Dict[str, Any]):
  """Tuner values -> (HParams kwargs, meta-parameters for ModelOptions)."""
  values = dict(values)
  meta = {
    k: values.pop(k)
    for k in ('output_layer', 'loss_name', 'loss_norm')
    if k in values
  }
  return search_space.to_hparams_dict(values), meta


def setup(config: Dict[str, Any], tuned: Dict[str, Any] = None) -> RunSetup:
  """Parses a Trainer/Tuner custom_config (plus a Tuner's chosen values)."""
  experiment = experiment_lib.parse_experiment(
    config[EXPERIMENT_KEY], 'custom_config.experiment_pbtxt'
  )
  hp_values = dict(config.get(HPARAMS_KEY) or {})
  options = options_lib.ModelOptions.from_dict(config.get(MODEL_KEY) or {})
  if tuned:
    tuned_hparams, meta = split_tuner_values(tuned)
    hp_values.update(tuned_hparams)
    options = options.with_meta(meta)
  return RunSetup(
    experiment=experiment,
    training=TrainingConfig.from_dict(config.get(TRAINING_KEY) or {}),
    options=options,
    hparams=model_lib.HParams.from_dict(hp_values),
    signs=experiment_lib.selection_signs(experiment),
  )


def build_and_compile(run: RunSetup):
  """(model, train_model): the full model and its compiled count output."""
  model = model_lib.build_model(
    run.hparams, run.experiment, run.options, run.signs
  )
  train_model = keras.Model(model.input, model.output['counts'])
  train_model.compile(
    optimizer=model_lib.make_optimizer(run.hparams),
    loss=losses.LOSSES[run.options.loss_name],
  )
  return model, train_model


def prepare_data(
  fn_args: tfx.components.FnArgs, tft_output: tft.TFTransformOutput, run
) -> datasets.TrainingData:
  spec = datasets.DataSpec.create(list(run.signs.reads), run.options)
  template = run.experiment.template_sequence or (
    'N' * run.experiment.sequence_length
  )
  return datasets.prepare(
    fn_args, tft_output, spec, run.options, run.training, template
  )


def epoch_evaluation_callback(
  train_model: keras.Model,
  data: datasets.TrainingData,
  loss_name: str,
  report_path: str = '',
) -> epoch_evaluation.EpochEvaluation:
  return epoch_evaluation.EpochEvaluation(
    predict_fn=lambda x: train_model.predict(x, batch_size=4096, verbose=0),
    datasets=data.rank_samples,
    output_names=data.spec.outputs,
    loss_fn=lambda y, p: losses.per_example_and_target(loss_name, y, p),
    report_path=report_path,
  )


def divergence_guard(run: RunSetup) -> training_callbacks.DivergenceGuard:
  return training_callbacks.DivergenceGuard(
    lower_bound=losses.lower_bound(run.options.loss_name)
  )


def make_serving_signatures(
  model: keras.Model,
  tft_output: tft.TFTransformOutput,
  spec: datasets.DataSpec,
  molecules: List[str],
) -> Dict[str, Any]:
  """The exported signatures (see the module docstring)."""
  model.tft_layer = tft_output.transform_features_layer()
  raw_spec = tft_output.raw_feature_spec()
  structure = list(spec.structure_features)
  served_spec = {n: raw_spec[n] for n in ['sequence'] + structure}

  def predict(raw):
    transformed = model.tft_layer(raw)
    inputs = {name: transformed[name] for name in spec.input_features}
    if spec.parent_counts:
      # Serving has no observed counts: the parent term is left out.
      batch = tf.shape(transformed[encodings.ONE_HOT_FEATURE])[0]
      inputs[datasets.PARENT_COUNTS_INPUT] = tf.zeros(
        [batch, len(spec.targets)]
      )
    out = model(inputs, training=False)
    result = {o: out['counts'][:, i] for i, o in enumerate(spec.outputs)}
    for i, molecule in enumerate(molecules):
      result[encodings.affinity_output_name(molecule)] = out['affinity'][:, i]
    return result

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def serve_examples(serialized):
    return predict(tf.io.parse_example(serialized, served_spec))

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='sequences')]
    + [tf.TensorSpec([None], tf.float32, name=n) for n in structure]
  )
  def serve_sequences(sequences, *structure_values):
    raw = {'sequence': sequences}
    raw.update(zip(structure, structure_values))
    return predict({n: tf.reshape(v, [-1, 1]) for n, v in raw.items()})

  @tf.function(
    input_signature=[tf.TensorSpec([None], tf.string, name='examples')]
  )
  def transform_features(serialized):
    return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

  return {
    'serving_default': serve_examples,
    'serve_sequences': serve_sequences,
    'transform_features': transform_features,
  }


def _write_json(directory: str, filename: str, value) -> None:
  with tf.io.gfile.GFile(os.path.join(directory, filename), 'w') as f:
    json.dump(epoch_evaluation.nan_to_none(value), f, indent=2)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
  """Trains the model for the configured epochs and exports the best epoch.

  Args:
    fn_args: TFX trainer arguments. Used fields: `train_files`, `eval_files`,
      `data_accessor`, `transform_output`, `serving_model_dir`,
      `model_run_dir`, `hyperparameters` (when a Tuner or sweep chose them)
      and `custom_config` (experiment, hparams, model options, training).
  """
  tuned = (fn_args.hyperparameters or {}).get('values')
  run = setup(fn_args.custom_config, tuned)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  keras.utils.set_random_seed(run.training.seed)
  data = prepare_data(fn_args, tft_output, run)
  model, train_model = build_and_compile(run)
  model.summary(print_fn=logging.info)
  _write_json(
    fn_args.model_run_dir,
    HPARAMS_FILENAME,
    {**dataclasses.asdict(run.hparams), **run.options.as_dict()},
  )
  best = training_callbacks.BestEpochKeeper(
    run.training.epoch_interval_to_save_best
  )
  history = train_model.fit(
    data.train,
    validation_data=data.validation,
    callbacks=[
      divergence_guard(run),
      epoch_evaluation_callback(
        train_model,
        data,
        run.options.loss_name,
        os.path.join(fn_args.model_run_dir, epoch_evaluation.REPORT_FILENAME),
      ),
      best,
      keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
    ],
    verbose=2,
    **data.fit_kwargs,
  )
  _write_json(fn_args.model_run_dir, 'history.json', history.history)
  best_epoch = best.restore_best()
  interval = run.training.epoch_interval_to_save_best
  print(
    f'Exporting the weights of epoch {best_epoch} (lowest validation loss '
    f'{best.best_loss:.4f} among every {interval}th epoch)'
    if best_epoch
    else 'Exporting the final weights (no epoch is a multiple of '
    f'epoch_interval_to_save_best={interval})'
  )
  _write_json(
    fn_args.model_run_dir,
    BEST_EPOCH_FILENAME,
    {
      'best_epoch': best_epoch,
      'val_loss': best.best_loss if best_epoch else None,
      'epochs': run.training.epochs,
      'epoch_interval_to_save_best': interval,
    },
  )
  signatures = make_serving_signatures(
    model,
    tft_output,
    data.spec,
    model_lib.affinity_molecules(
      run.options.output_layer, run.options, run.signs
    ),
  )
  tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)
