"""Tuner `tuner_fn` entry point (the path `pipeline.configs.TUNER_FN` names).

The search itself is `components.search.tuner`.
"""

from tfx import v1 as tfx

from components.search import tuner


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
  """Builds the random search of one meta-parameter combination.

  Args:
    fn_args: TFX tuner arguments. Used fields: `train_files`, `eval_files`,
      `data_accessor`, `transform_graph_path`, `working_dir` and
      `custom_config` (a serialised `components.config.run_config.RunConfig`
      with `tuner` settings; `hparams` holds the layer counts and any pinned
      hyper-parameter, `model` the combination's output layer and loss).

  Returns:
    The tuner and the `fit` arguments of every trial.
  """
  return tuner.build_search(fn_args)
