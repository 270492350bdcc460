"""Trainer `run_fn` entry point (the path `pipeline.configs.RUN_FN` names).

The training itself is `components.training.trainer`; the exported
signatures are described in `components.model.signatures`.
"""

from tfx import v1 as tfx

from components.training import trainer


def run_fn(fn_args: tfx.components.FnArgs) -> None:
  """Trains the model for the configured epochs and exports the best epoch.

  Args:
    fn_args: TFX trainer arguments. Used fields: `train_files`, `eval_files`,
      `data_accessor`, `transform_output`, `serving_model_dir`,
      `model_run_dir`, `hyperparameters` (when a Tuner or sweep chose them)
      and `custom_config` (a serialised
      `components.config.run_config.RunConfig`).
  """
  trainer.train_and_export(fn_args)
