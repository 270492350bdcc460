"""Small hand-made experiments and datasets in the data contract, for tests."""

import os

import numpy as np
import tensorflow as tf

EXPERIMENT = """
sequence_length: 12
rounds {
  key: "library"
  value { method: RANDOM positive_reads { name: "library" } }
}
rounds {
  key: "round1"
  value {
    input: "library"
    method: PARTICLE_DISPLAY
    target_concentrations { key: "target" value: 10 }
    positive_reads { name: "round1_positive" }
    negative_reads { name: "round1_negative" }
  }
}
"""
_COUNTS = ('library', 'round1_positive', 'round1_negative')
_NUM_EXAMPLES = 200


def example(sequence, counts, cluster, floats=None):
  """One tf.Example in the data contract: counts int64, `floats` float."""
  feature = {
    'sequence': tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[sequence.encode()])
    ),
    'cluster': tf.train.Feature(int64_list=tf.train.Int64List(value=[cluster])),
  }
  for name, value in counts.items():
    feature[name] = tf.train.Feature(
      int64_list=tf.train.Int64List(value=[value])
    )
  for name, value in (floats or {}).items():
    feature[name] = tf.train.Feature(
      float_list=tf.train.FloatList(value=[value])
    )
  return tf.train.Example(features=tf.train.Features(feature=feature))


def write_dataset(
  directory,
  break_example=None,
  experiment=EXPERIMENT,
  num_examples=_NUM_EXAMPLES,
):
  """A small valid dataset; `break_example(i, seq, counts)` may spoil rows."""
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, 'experiment.pbtxt'), 'w') as f:
    f.write(experiment)
  rng = np.random.default_rng(0)
  path = os.path.join(directory, 'examples-00000.tfrecord.gz')
  with tf.io.TFRecordWriter(path, 'GZIP') as writer:
    for i in range(num_examples):
      seq = ''.join(rng.choice(list('ACGT'), 12))
      counts = {n: int(rng.integers(0, 5)) for n in _COUNTS}
      if break_example:
        seq, counts = break_example(i, seq, counts)
      writer.write(example(seq, counts, i // 2 + 1).SerializeToString())
  return directory


# library -> r1 (particle display: target, serum as background, positive and
# negative reads) -> r2 (SELEX on target). r2's input round r1 has positive
# reads, which are themselves a target column, so parent counts matter.
THREE_ROUND_EXPERIMENT = """
sequence_length: 12
rounds { key: "lib" value { method: RANDOM positive_reads { name: "lib" } } }
rounds {
  key: "r1"
  value {
    input: "lib" method: PARTICLE_DISPLAY
    target_concentrations { key: "target" value: 10 }
    background_concentrations { key: "serum" value: 1 }
    positive_reads { name: "r1_pos" } negative_reads { name: "r1_neg" }
  }
}
rounds {
  key: "r2"
  value {
    input: "r1" method: SELEX
    target_concentrations { key: "target" value: 1 }
    positive_reads { name: "r2_pos" }
  }
}
"""


def small_run_options(tmp_path, run_name: str, **overrides):
  """Options of a quick run on a fresh hand-made dataset under `tmp_path`.

  One epoch of a network without conv layers (the sequences are 12 long),
  any model blessed, no Designer (the demo's tests cover it); `overrides`
  are further RunOptions fields.
  """
  from pipeline import local_runner

  values = dict(
    save_base=str(tmp_path / 'runs'),
    run_name=run_name,
    input_dir=write_dataset(str(tmp_path / 'data')),
    epochs=1,
    num_conv_layers=0,
    min_auc_true_top_1p=0.0,
    design=False,
  )
  values.update(overrides)
  return local_runner.RunOptions(**values)


def add_float_features(directory, floats):
  """Adds float features to `write_dataset`'s examples in `directory`.

  Args:
    directory: a directory `write_dataset` wrote.
    floats: `floats(i) -> {name: value}`, the float features of example `i`
      (in writing order).
  """
  path = os.path.join(directory, 'examples-00000.tfrecord.gz')
  examples = [
    tf.train.Example.FromString(record.numpy())
    for record in tf.data.TFRecordDataset(path, 'GZIP')
  ]
  with tf.io.TFRecordWriter(path, 'GZIP') as writer:
    for i, example in enumerate(examples):
      for name, value in floats(i).items():
        example.features.feature[name].float_list.value[:] = [value]
      writer.write(example.SerializeToString())
  return directory
