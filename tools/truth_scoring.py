"""Scores a pushed model against a simulator's ground truth.

Only simulated datasets have a truth table; real experiments are judged by
the Evaluator's count metrics instead. The score uses the held-out clusters
(ExampleGen's `eval` split) so it measures generalisation to new families.
"""

import dataclasses
import glob
import os
from typing import List

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics
import tensorflow as tf

from components.features import encodings

TOP_FRACTION = 0.01
TRUTH_FILENAME = 'ground_truth.csv.gz'  # Written by the simulator.


@dataclasses.dataclass
class TruthScore:
  """How well predicted affinities recover the true ones."""

  molecule: str
  num_sequences: int
  num_true_top: int
  auc_true_top_1p: float
  spearman: float

  def describe(self) -> str:
    return (
      f'{self.molecule}: held-out sequences {self.num_sequences}, true top 1% '
      f'binders {self.num_true_top}; ROC-AUC(true top 1%) '
      f'{self.auc_true_top_1p:.3f}; Spearman(predicted, true affinity) '
      f'{self.spearman:.3f}'
    )


def read_examples(split_dir: str) -> List[bytes]:
  """Every serialized example in a split directory of gzip TFRecords."""
  files = sorted(glob.glob(os.path.join(split_dir, '*')))
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  return list(dataset.as_numpy_iterator())


def sequence_of(example: bytes) -> str:
  feature = tf.train.Example.FromString(example).features.feature
  return feature['sequence'].bytes_list.value[0].decode()


def predict_affinity(
  model_dir: str, examples: List[bytes], molecule: str, batch_size: int = 4096
) -> np.ndarray:
  """Latent affinity of `molecule` for each example, from `serving_default`.

  Examples rather than bare sequences, so that a model with structure
  inputs gets the structure features StructureFeatures added to them.
  """
  serve = tf.saved_model.load(model_dir).signatures['serving_default']
  key = encodings.affinity_output_name(molecule)
  out = []
  for start in range(0, len(examples), batch_size):
    batch = tf.constant(examples[start : start + batch_size])
    out.append(serve(examples=batch)[key].numpy())
  return np.concatenate(out) if out else np.zeros(0)


def score(
  model_dir: str,
  examples: List[bytes],
  truth_csv: str,
  molecule: str = 'target',
) -> TruthScore:
  """ROC-AUC for the true top 1% binders and Spearman, on `examples`.

  Each sequence is scored once (its first example).

  True binding strength is -log10(Kd) (a low Kd binds tightly); the latent
  affinity is trained to rise with enrichment, so both point the same way.
  """
  truth = pd.read_csv(truth_csv).drop_duplicates('sequence')
  truth = truth.set_index('sequence')
  by_sequence = {}
  for example in examples:
    by_sequence.setdefault(sequence_of(example), example)
  sequences = [s for s in by_sequence if s in truth.index]
  strength = -np.log10(truth.loc[sequences, f'{molecule}_kd'].to_numpy())
  predicted = predict_affinity(
    model_dir, [by_sequence[s] for s in sequences], molecule
  )
  cutoff = np.quantile(strength, 1 - TOP_FRACTION)
  is_top = strength > cutoff
  auc = (
    metrics.roc_auc_score(is_top, predicted)
    if 0 < is_top.sum() < len(is_top)
    else float('nan')
  )
  return TruthScore(
    molecule=molecule,
    num_sequences=len(sequences),
    num_true_top=int(is_top.sum()),
    auc_true_top_1p=float(auc),
    spearman=float(stats.spearmanr(predicted, strength).correlation),
  )
