"""The epoch report's sample draw, after training, on a real pipeline run.

At a million sequences each epoch report drew its 200,000-example training
sample in about 1 s (`epoch_report.jsonl`, Paper scale in RESULTS.md),
although the same gather takes 0.07-0.1 s in a process that has not
trained. This reproduces the Trainer's situation: on the Transform output
of an existing run (e.g. `benchmarks/paper_scale.py`'s), it prepares the
Trainer's data as `run_fn` does (manuscript preset), then alternates a
short stretch of training with one draw of each kind:

  * gather: a sorted random index gathered from the split (the previous
    `InMemorySample.draw`, one new copy per draw);
  * ring: `epoch_evaluation.InMemorySample.draw` (a view of a window of
    the split shuffled once).

Each draw is then predicted (`epoch_evaluation.compiled_predict_fn`, as
the report does), so a cost that only moved from the draw to the
prediction would show. Prints the seconds of each (median) and the load
average.

Usage:
  python benchmarks/report_draw.py --run_dir RUN_DIR --input_dir DATA \
      [--draws 4] [--steps 1000] [--eval_size 200000]
"""

import argparse
import glob
import os
import statistics
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import trainer_throughput  # noqa: E402

from components.training import epoch_evaluation  # noqa: E402
from components.training import run_setup  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import local_runner  # noqa: E402
from pipeline import run_options  # noqa: E402


def _latest(pattern):
  return max(glob.glob(pattern), key=lambda p: int(os.path.basename(p)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--run_dir', required=True)
  parser.add_argument('--input_dir', required=True)
  parser.add_argument('--draws', type=int, default=4)
  parser.add_argument('--steps', type=int, default=1000)
  parser.add_argument('--eval_size', type=int, default=200000)
  args = parser.parse_args()
  preset = dict(configs.PRESETS['counts'], eval_size=args.eval_size)
  options = run_options.RunOptions(
    save_base='/tmp', run_name='report-draw', input_dir=args.input_dir, **preset
  )
  experiment = local_runner.load_dataset_experiment(args.input_dir)
  custom_config = (
    run_options.pipeline_config(options)
    .run_config(experiment)
    .to_custom_config()
  )
  transform = os.path.join(args.run_dir, 'pipeline', 'Transform')
  graph = _latest(os.path.join(transform, 'transform_graph', '*'))
  fn_args = trainer_throughput._fn_args(  # pylint: disable=protected-access
    _latest(os.path.join(transform, 'transformed_examples', '*')),
    graph,
    custom_config,
  )
  run = run_setup.setup(custom_config)
  data = run_setup.prepare_data(fn_args, tft.TFTransformOutput(graph), run)
  ring = data.rank_samples['training']
  if not isinstance(ring, epoch_evaluation.InMemorySample):
    raise SystemExit('the training split is not sampled (eval_size too large)')
  # The gather draws from an unshuffled copy of the same size.
  split = tf.nest.map_structure(lambda a: a[: ring._total].copy(), ring._data)  # pylint: disable=protected-access
  total = ring._total  # pylint: disable=protected-access
  rng = np.random.default_rng(0)
  _, train_model = run_setup.build_and_compile(run, data.steps_per_execution)
  predict = epoch_evaluation.compiled_predict_fn(train_model)
  seconds = {'gather': [], 'ring': []}
  predict_seconds = {'gather': [], 'ring': []}
  for _ in range(args.draws):
    for kind in seconds:
      train_model.fit(
        data.train, steps_per_epoch=args.steps, epochs=1, verbose=0
      )
      start = time.perf_counter()
      if kind == 'gather':
        index = np.sort(rng.choice(total, args.eval_size, replace=False))
        drawn = tf.nest.map_structure(lambda a, i=index: a[i], split)
      else:
        drawn = ring.draw()
      drawn_at = time.perf_counter()
      predict(drawn[0])
      seconds[kind].append(drawn_at - start)
      predict_seconds[kind].append(time.perf_counter() - drawn_at)
      del drawn
  print(
    f'\n{total:,} training examples, draws of {args.eval_size:,}, '
    f'{args.steps} training steps before each draw, load '
    f'{os.getloadavg()[0]:.2f}'
  )
  print(
    '| draw | draw seconds (each) | draw median | predict seconds (each) '
    '| predict median |\n|---|---|---|---|---|'
  )
  for kind, values in seconds.items():
    each = ', '.join(f'{s:.3f}' for s in values)
    predicted = predict_seconds[kind]
    each_predict = ', '.join(f'{s:.2f}' for s in predicted)
    print(
      f'| {kind} | {each} | {statistics.median(values):.3f} | '
      f'{each_predict} | {statistics.median(predicted):.2f} |'
    )


if __name__ == '__main__':
  main()
