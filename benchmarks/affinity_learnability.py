"""How well can the default network rank unseen sequences at all?

Issue 11 asks the served affinity to rank the true top 1 % of fresh random
sequences at ROC-AUC >= 0.97. The pipeline learns it from read counts. This
benchmark asks what the same network reaches when the counts are replaced
by the answer: it trains the default network (the default hyper-parameters,
one-hot and k-mer inputs, Adam at the default rate, minibatch 64) by mean
squared error on the *true* affinity (-log10 Kd) of the library's members,
and scores it on the simulator's unseen sequences exactly as truth scoring
does (ROC-AUC for the set's true top 1 %, Spearman).

Two training sets per scenario:

  * observed: the members a sequencing pool saw (the pipeline's examples);
  * library: every member, seen or not.

What the pipeline cannot beat with this network and these sequences, no
count model can; the gap between this and the pipeline's served affinity is
what learning from counts loses. Nothing here is a pipeline component: the
network is `components.model.network.build_network`, the inputs
`components.features.encodings`, the scores `tools.truth_scoring`.

Usage:
  python benchmarks/affinity_learnability.py \
      [--scenarios demo_energy_matrix selex] [--epochs 30] [--seeds 0 1]
"""

import argparse
import os
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

from components.config import hparams as hparams_lib  # noqa: E402
from components.config import training as training_lib  # noqa: E402
from components.features import encodings  # noqa: E402
from components.model import network  # noqa: E402
from simulation import scenarios as scenarios_lib  # noqa: E402
from simulation import simulator  # noqa: E402
from simulation import unseen as unseen_lib  # noqa: E402
from tools import truth_scoring  # noqa: E402

_K_MAX = 4
# Clusters held out for early stopping (the pipeline's validation share).
_VALIDATION_FRACTION = 0.1


def _inputs(sequences, length):
  one_hot = encodings.one_hot_encode(tf.constant(list(sequences)), length)
  kmers = encodings.standardized_kmer_counts(one_hot, length, _K_MAX)
  return {
    encodings.ONE_HOT_FEATURE: one_hot.numpy(),
    encodings.KMER_FEATURE: kmers.numpy(),
  }


def _take(inputs, index):
  return {k: v[index] for k, v in inputs.items()}


def _train(inputs, strength, cluster, length, epochs, seed):
  """The default network fitted to `strength`; best validation epoch kept."""
  keras.utils.set_random_seed(seed)
  rng = np.random.default_rng(seed)
  clusters = np.unique(cluster)
  held = rng.choice(
    clusters, int(len(clusters) * _VALIDATION_FRACTION), replace=False
  )
  is_validation = np.isin(cluster, held)
  mean, std = strength[~is_validation].mean(), strength[~is_validation].std()
  target = (strength - mean) / std
  hp = hparams_lib.HParams()
  model = network.build_network(
    hp,
    length,
    1,
    encodings.dense_input_widths(
      ('SEQUENCE_ONE_HOT', 'SEQUENCE_KMER_COUNT'), _K_MAX
    ),
  )
  model.compile(optimizer=network.make_optimizer(hp), loss='mse')
  stop = keras.callbacks.EarlyStopping(
    patience=5, restore_best_weights=True, monitor='val_loss'
  )
  model.fit(
    _take(inputs, ~is_validation),
    target[~is_validation],
    validation_data=(_take(inputs, is_validation), target[is_validation]),
    batch_size=training_lib.TrainingConfig.mbsz,
    epochs=epochs,
    callbacks=[stop],
    verbose=0,
  )
  # The epoch whose weights were kept, counted from 1.
  return model, stop.best_epoch + 1


def _scores(predicted, unseen):
  """{set: (ROC-AUC true top 1 %, Spearman)} on the unseen sequences."""
  strength = -unseen.target_dg
  kinds = np.array(unseen.kind)
  result = {}
  for name, kind in (
    ('random', unseen_lib.RANDOM_KIND),
    ('mutants', unseen_lib.MUTANT_KIND),
  ):
    mask = kinds == kind
    _, _, auc, rho = truth_scoring.rank_scores(predicted[mask], strength[mask])
    result[name] = (auc, rho)
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--scenarios', nargs='+', default=['demo_energy_matrix', 'selex']
  )
  parser.add_argument('--epochs', type=int, default=30)
  parser.add_argument(
    '--seeds',
    type=int,
    nargs='+',
    default=[0],
    help='One network per seed; with several, their mean is scored too.',
  )
  parser.add_argument(
    '--training_sets',
    nargs='+',
    choices=('observed', 'library'),
    default=['observed', 'library'],
  )
  args = parser.parse_args()
  rows = []
  for name in args.scenarios:
    start = time.perf_counter()
    result = simulator.simulate(scenarios_lib.configure(name))
    length = len(result.sequences[0])
    print(f'{name}: simulated in {time.perf_counter() - start:.0f} s')
    observed = np.zeros(len(result.sequences), bool)
    for counts in result.counts.values():
      observed |= counts > 0
    inputs = _inputs(result.sequences, length)
    strength = -result.target_dg
    unseen_inputs = _inputs(result.unseen.sequences, length)
    for label in args.training_sets:
      members = observed if label == 'observed' else np.ones_like(observed)
      predictions = []
      for seed in args.seeds:
        start = time.perf_counter()
        model, epoch = _train(
          _take(inputs, members),
          strength[members],
          result.cluster[members],
          length,
          args.epochs,
          seed,
        )
        predictions.append(model.predict(unseen_inputs, verbose=0)[:, 0])
        scores = _scores(predictions[-1], result.unseen)
        rows.append((name, label, int(members.sum()), str(seed), epoch, scores))
        print(
          f'{name} {label} ({members.sum()} sequences, seed {seed}, best '
          f'epoch {epoch}, {time.perf_counter() - start:.0f} s): '
          f'random AUC {scores["random"][0]:.3f} / Spearman '
          f'{scores["random"][1]:.3f}; mutants AUC '
          f'{scores["mutants"][0]:.3f} / Spearman {scores["mutants"][1]:.3f}',
          flush=True,
        )
      if len(predictions) > 1:
        scores = _scores(np.mean(predictions, axis=0), result.unseen)
        seeds = f'mean of {len(predictions)}'
        rows.append((name, label, int(members.sum()), seeds, '', scores))
  print(
    '\n| scenario | trained on the truth of | sequences | seed | best epoch '
    '| unseen random AUC / Spearman | unseen mutants AUC / Spearman |'
  )
  print('|---|---|---|---|---|---|---|')
  for name, label, n, seed, epoch, scores in rows:
    print(
      f'| `{name}` | {label} members | {n:,} | {seed} | {epoch} | '
      f'{scores["random"][0]:.3f} / {scores["random"][1]:.3f} | '
      f'{scores["mutants"][0]:.3f} / {scores["mutants"][1]:.3f} |'
    )


if __name__ == '__main__':
  main()
