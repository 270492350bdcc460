"""FastqExampleGen: its executor run for real on simulated FASTQ datasets.

The counts are checked against a plain Python loop over the same files
(read_qc's classify functions decide each read; the counting and grouping
are independent of the executor's Beam code), the cluster ids against
clustering on the counted sequences, and broken inputs against their errors.
"""

import collections
import glob
import gzip
import json
import os
import shutil

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
import tensorflow as tf
from tfx import v1 as tfx
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.config import keys
from components.data import clustering
from components.data import fastq_dataset
from components.data.fastq import read_qc
from components.data.fastq import read_stats
from components.data.fastq import records
from components.data.fastq_example_gen import component
from components.data.fastq_example_gen import executor
from components.data.fastq_example_gen import worker_functions
from pipeline import beam_runners
from schema import experiment as experiment_lib
from simulation import fastq_dataset as sim_fastq
from simulation import scenarios
from simulation import simulator

IN_MEMORY = beam_runners.with_local_dependencies(
  ['--direct_running_mode=in_memory', '--direct_num_workers=1']
)
SPLITS = [keys.TRAIN_SPLIT, keys.VALIDATION_SPLIT, keys.TEST_SPLIT]
# A few hundred sequences, 9 pools of 250 read pairs.
SMALL = dict(num_families=50, depth=250)


def _experiment_text(directory):
  path = os.path.join(directory, experiment_lib.EXPERIMENT_FILENAME)
  with open(path) as f:
    return f.read()


def _exec_properties(gen):
  """The exec properties as the launcher hands them over (protos as JSON)."""
  return {
    k: proto_utils.proto_to_json(v) if hasattr(v, 'DESCRIPTOR') else v
    for k, v in gen.exec_properties.items()
  }


def _run(data_dir, out_dir, experiment_text=None, **kwargs):
  """Runs the executor of a FastqExampleGen on data_dir; returns the output."""
  gen = component.fastq_example_gen(
    data_dir, experiment_text or _experiment_text(data_dir), **kwargs
  )
  output = standard_artifacts.Examples()
  output.uri = str(out_dir)
  context = base_beam_executor.BaseBeamExecutor.Context(
    beam_pipeline_args=IN_MEMORY, tmp_dir=os.path.join(str(out_dir), '.tmp')
  )
  executor.Executor(context).Do(
    {}, {'examples': [output]}, _exec_properties(gen)
  )
  return output


def _read_examples(artifact):
  """{split: [tf.train.Example]}."""
  out = {}
  for split in artifact_utils.decode_split_names(artifact.split_names):
    files = glob.glob(
      os.path.join(artifact_utils.get_split_uri([artifact], split), '*.gz')
    )
    dataset = tf.data.TFRecordDataset(sorted(files), compression_type='GZIP')
    out[split] = [tf.train.Example.FromString(r.numpy()) for r in dataset]
  return out


def _plain_count(experiment, data_dir):
  """(counts {sequence: {read name: n}}, fates {source: Counter}) by loop."""
  config = read_qc.ReadQcConfig(
    experiment.forward_primer,
    experiment.reverse_primer,
    int(experiment.sequence_length),
  )
  counts = collections.defaultdict(collections.Counter)
  fates = {}
  files = fastq_dataset.fastq_files(experiment, data_dir)
  for name, lanes in files.items():
    for r1, r2 in lanes:
      tally = collections.Counter()
      if r2:
        for a, b in records.read_pairs(r1, r2):
          fate, region = read_qc.classify_pair(
            a.sequence, a.quality, b.sequence, b.quality, config
          )
          tally[fate.value] += 1
          if region:
            counts[region][name] += 1
      else:
        for a in records.read_fastq(r1):
          fate, region = read_qc.classify_read(a.sequence, a.quality, config)
          tally[fate.value] += 1
          if region:
            counts[region][name] += 1
      fates[executor.source_name(r1, r2)] = tally
  return counts, fates


def _check_output(artifact, data_dir):
  experiment = experiment_lib.load_experiment(
    os.path.join(data_dir, experiment_lib.EXPERIMENT_FILENAME)
  )
  names = experiment_lib.all_count_names(experiment)
  splits = _read_examples(artifact)
  assert sorted(splits) == sorted(SPLITS)
  assert all(splits.values()), 'a split is empty'
  got, cluster_of, split_of_cluster = {}, {}, {}
  for split, examples in splits.items():
    for example in examples:
      feature = example.features.feature
      assert set(feature) == {'sequence', 'cluster', *names}
      sequence = feature['sequence'].bytes_list.value[0].decode()
      assert sequence not in got, 'a sequence appears twice'
      got[sequence] = {n: feature[n].int64_list.value[0] for n in names}
      cluster = feature['cluster'].int64_list.value[0]
      cluster_of[sequence] = cluster
      # Cluster-disjoint: a cluster lies in one split.
      assert split_of_cluster.setdefault(cluster, split) == split

  expected, fates = _plain_count(experiment, data_dir)
  assert got == {
    s: {n: c.get(n, 0) for n in names} for s, c in expected.items()
  }

  sequences = sorted(expected)
  totals = [sum(expected[s].values()) for s in sequences]
  clusters = clustering.cluster_by_edit_distance(sequences, totals)
  assert [cluster_of[s] for s in sequences] == clusters.cluster_ids.tolist()

  summary = executor.read_statistics(artifact.uri)
  assert os.path.exists(
    os.path.join(artifact.uri, executor.STATISTICS_MARKDOWN)
  )
  okay = read_qc.Fate.OKAY.value
  assert summary['total'][okay] == sum(totals)
  assert {r['source']: r['total'] for r in summary['files']} == {
    s: sum(t.values()) for s, t in fates.items()
  }
  for row in summary['files']:
    for fate in read_qc.FATES:
      assert row[fate.value] == fates[row['source']][fate.value]
  for name in names:
    per_name = summary['read_names'][name]
    assert per_name[okay] == sum(c[name] for c in got.values())
  assert artifact.get_int_custom_property('fastq_reads_okay') == sum(totals)
  # The artifact TFX's ExampleGen would publish.
  assert examples_utils.get_payload_format(artifact) == (
    example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE
  )
  assert examples_utils.get_file_format(artifact) == 'tfrecords_gzip'
  for split in SPLITS:
    files = os.listdir(artifact_utils.get_split_uri([artifact], split))
    assert files and all(
      f.startswith('data_tfrecord-') and f.endswith('.gz') for f in files
    )
  return got


@pytest.fixture(scope='module')
def paired(tmp_path_factory):
  """A paired-end dataset and the executor's output on it."""
  root = tmp_path_factory.mktemp('paired')
  result = simulator.simulate(scenarios.configure('demo', **SMALL))
  data_dir = sim_fastq.write_fastq_dataset(result, str(root / 'data'))
  return result, data_dir, _run(data_dir, root / 'out')


def test_paired_counts_clusters_and_statistics(paired):
  result, data_dir, artifact = paired
  got = _check_output(artifact, data_dir)
  assert len(got) > 100
  # Most of the sequenced reads are recovered under their own sequence.
  truth = sim_fastq.read_true_counts(
    os.path.join(data_dir, sim_fastq.TRUE_COUNTS_FILENAME)
  )
  recovered = sum(
    min(n, got.get(s, {}).get(name, 0))
    for s, row in truth.items()
    for name, n in row.items()
  )
  assert recovered > 0.9 * sum(sum(r.values()) for r in truth.values())


def test_single_end_reads_in_two_lanes(tmp_path):
  result = simulator.simulate(
    scenarios.configure('demo', num_families=20, depth=80)
  )
  data_dir = sim_fastq.write_fastq_dataset(
    result, str(tmp_path / 'data'), paired=False
  )
  # The library's reads split into two lanes.
  experiment = experiment_lib.load_experiment(
    os.path.join(data_dir, experiment_lib.EXPERIMENT_FILENAME)
  )
  library = experiment.rounds['library'].positive_reads
  (name,) = library.fastq_forward_path
  with gzip.open(os.path.join(data_dir, name), 'rb') as f:
    lines = f.read().splitlines(keepends=True)
  os.remove(os.path.join(data_dir, name))
  half = (len(lines) // 8) * 4
  for lane, part in (('L1', lines[:half]), ('L2', lines[half:])):
    with gzip.open(
      os.path.join(data_dir, f'library_{lane}.fastq.gz'), 'wb'
    ) as f:
      f.write(b''.join(part))
  del library.fastq_forward_path[:]
  library.fastq_forward_path.extend(
    ['library_L1.fastq.gz', 'library_L2.fastq.gz']
  )
  with open(
    os.path.join(data_dir, experiment_lib.EXPERIMENT_FILENAME), 'w'
  ) as f:
    f.write(experiment_lib.to_text(experiment))
  artifact = _run(data_dir, tmp_path / 'out')
  _check_output(artifact, data_dir)
  summary = executor.read_statistics(artifact.uri)
  lanes = [r for r in summary['files'] if r['read_name'] == 'library']
  assert len(lanes) == 2 and all(not r['r2'] for r in lanes)


def test_counts_survive_many_flushes(paired, tmp_path, monkeypatch):
  # A flush every 7 keys: each file's counts leave in many partial tables,
  # which the shard merge must sum to the same examples and clusters.
  monkeypatch.setattr(worker_functions, 'FLUSH_KEYS', 7)
  _, data_dir, artifact = paired
  flushed = _run(data_dir, tmp_path / 'out')
  assert _check_output(flushed, data_dir) == _check_output(artifact, data_dir)


def _copy(data_dir, tmp_path):
  copy = str(tmp_path / 'data')
  shutil.copytree(data_dir, copy)
  return copy


def _assert_no_examples(out_dir):
  leftovers = [
    p
    for p in glob.glob(os.path.join(str(out_dir), '**'), recursive=True)
    if os.path.isfile(p) and '.tmp' not in p
  ]
  names = {os.path.basename(p) for p in leftovers}
  assert names <= {executor.STATISTICS_JSON, executor.STATISTICS_MARKDOWN}
  assert not glob.glob(os.path.join(str(out_dir), 'Split-*'))


def test_truncated_gzip_names_file_and_record(paired, tmp_path):
  data_dir = _copy(paired[1], tmp_path)
  path = os.path.join(data_dir, 'round2_high_no_serum_positive_R2.fastq.gz')
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[: len(data) // 2])
  with pytest.raises(
    records.FastqError,
    match=r'round2_high_no_serum_positive_R2\.fastq\.gz: the gzip stream is '
    r'truncated.*record \d+',
  ):
    _run(data_dir, tmp_path / 'out')
  _assert_no_examples(tmp_path / 'out')


def _short_quality(line):
  return line[5:]


def _space_in_region(line):
  return line[:30] + b' ' + line[31:]


@pytest.mark.parametrize(
  'spoil, message',
  [
    (_short_quality, 'record 7, line 28: the quality string has'),
    (_space_in_region, "record 7: quality string .* holds ' '"),
  ],
)
def test_bad_quality_names_file_and_record(paired, tmp_path, spoil, message):
  data_dir = _copy(paired[1], tmp_path)
  path = os.path.join(data_dir, 'library_R1.fastq.gz')
  with gzip.open(path, 'rb') as f:
    lines = f.read().splitlines(keepends=True)
  lines[4 * 6 + 3] = spoil(lines[4 * 6 + 3])  # Record 7's quality.
  with gzip.open(path, 'wb') as f:
    f.write(b''.join(lines))
  with pytest.raises(
    records.FastqError, match=r'library_R1\.fastq\.gz.*' + message
  ):
    _run(data_dir, tmp_path / 'out')
  _assert_no_examples(tmp_path / 'out')


def test_wrong_primers_fail_on_the_pass_rate(paired, tmp_path):
  text = _experiment_text(paired[1]).replace(
    'ACACGACGCTCTTCCGATCT', 'GTTGCAGTACCATGGACATA'
  )
  with pytest.raises(
    read_stats.LowPassRateError,
    match=r"read name 'library': \S*library_R1\.fastq\.gz \+ \S*"
    r'library_R2\.fastq\.gz: only 0 of 250 .*most common failure is '
    r'no_primer',
  ):
    _run(paired[1], tmp_path / 'out', experiment_text=text)
  _assert_no_examples(tmp_path / 'out')
  # The statistics stay for the diagnosis.
  summary = executor.read_statistics(str(tmp_path / 'out'))
  assert summary['total']['no_primer'] == summary['total']['total'] > 0


def test_layout_errors_come_before_beam(paired, tmp_path):
  data_dir = _copy(paired[1], tmp_path)
  os.rename(
    os.path.join(data_dir, 'library_R2.fastq.gz'),
    os.path.join(data_dir, 'library_R2.fq.gz'),
  )
  with pytest.raises(
    fastq_dataset.FastqDatasetError, match="'library'.*does not exist"
  ):
    _run(data_dir, tmp_path / 'out')


def test_invalid_arguments_fail_at_construction(paired):
  text = _experiment_text(paired[1])
  with pytest.raises(executor.FastqExampleGenError, match='unknown read filt'):
    component.fastq_example_gen(paired[1], text, read_qc={'max_bad': 3})
  with pytest.raises(executor.FastqExampleGenError, match='max_bad_bases'):
    component.fastq_example_gen(paired[1], text, read_qc={'max_bad_bases': -1})
  with pytest.raises(executor.FastqExampleGenError, match='max_distance'):
    component.fastq_example_gen(paired[1], text, max_distance=-1)


def test_custom_config_round_trip(paired):
  text = _experiment_text(paired[1])
  gen = component.fastq_example_gen(
    paired[1], text, read_qc={'min_mean_quality': 25.0}, max_distance=3
  )
  config = executor.FastqConfig.from_exec_properties(_exec_properties(gen))
  assert config.experiment_pbtxt == text
  assert config.max_distance == 3
  assert config.qc_config().min_mean_quality == 25.0
  assert config.qc_config().max_bad_bases == 5
  output = json.loads(_exec_properties(gen)['output_config'])
  assert output['split_config']['partition_feature_name'] == 'cluster'


def _run_cached_pipeline(data_dir, tmp_path):
  """Runs a one-component pipeline with the cache on; returns the MLMD path."""
  metadata_path = str(tmp_path / 'metadata.db')
  tfx.orchestration.LocalDagRunner().run(
    tfx.dsl.Pipeline(
      pipeline_name='fastq-example-gen-test',
      pipeline_root=str(tmp_path / 'root'),
      components=[
        component.fastq_example_gen(data_dir, _experiment_text(data_dir))
      ],
      enable_cache=True,
      metadata_connection_config=(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(
          metadata_path
        )
      ),
      beam_pipeline_args=IN_MEMORY,
    )
  )
  return metadata_path


@pytest.mark.e2e
def test_local_dag_runner_runs_and_caches(paired, tmp_path):
  data_dir = paired[1]
  _run_cached_pipeline(data_dir, tmp_path)
  metadata_path = _run_cached_pipeline(data_dir, tmp_path)
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  )
  states = [e.last_known_state for e in store.get_executions()]
  assert states == [
    metadata_store_pb2.Execution.COMPLETE,
    metadata_store_pb2.Execution.CACHED,
  ]
  (examples,) = store.get_artifacts_by_type('Examples')
  assert os.path.exists(os.path.join(examples.uri, executor.STATISTICS_JSON))
  splits = json.loads(examples.properties['split_names'].string_value)
  assert splits == SPLITS


def _states(metadata_path):
  store = metadata_store.MetadataStore(
    tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  )
  return [e.last_known_state for e in store.get_executions()]


@pytest.mark.e2e
def test_a_changed_file_in_a_subfolder_is_not_a_cache_hit(paired, tmp_path):
  # One pool's reads live in a subfolder, which TFX's input pattern `*`
  # does not fingerprint; the driver's own fingerprint must.
  data_dir = _copy(paired[1], tmp_path)
  path = os.path.join(data_dir, experiment_lib.EXPERIMENT_FILENAME)
  experiment = experiment_lib.load_experiment(path)
  reads = experiment.rounds['library'].positive_reads
  os.makedirs(os.path.join(data_dir, 'lanes'))
  for paths in (reads.fastq_forward_path, reads.fastq_reverse_path):
    moved = [os.path.join('lanes', p) for p in paths]
    for old, new in zip(paths, moved):
      os.rename(os.path.join(data_dir, old), os.path.join(data_dir, new))
    del paths[:]
    paths.extend(moved)
  with open(path, 'w') as f:
    f.write(experiment_lib.to_text(experiment))
  _run_cached_pipeline(data_dir, tmp_path)
  _run_cached_pipeline(data_dir, tmp_path)
  # The subfolder's R1 file changes (here its modification time only, what
  # TFX's own fingerprint goes by).
  r1 = os.path.join(data_dir, reads.fastq_forward_path[0])
  stat = os.stat(r1)
  os.utime(r1, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
  metadata_path = _run_cached_pipeline(data_dir, tmp_path)
  complete = metadata_store_pb2.Execution.COMPLETE
  cached = metadata_store_pb2.Execution.CACHED
  assert _states(metadata_path) == [complete, cached, complete]


def test_runner_flags_reach_the_component(paired, tmp_path):
  from pipeline import local_runner
  from pipeline import run_options

  options = run_options.RunOptions(
    input_dir=paired[1],
    save_base=str(tmp_path),
    fastq_max_bad_bases=2,
    fastq_max_expected_errors=-1.0,
    fastq_max_distance=3,
    fastq_min_pass_fraction=0.2,
  )
  pipeline = local_runner.build_pipeline(options)
  (gen,) = [c for c in pipeline.components if c.id == 'FastqExampleGen']
  config = executor.FastqConfig.from_exec_properties(_exec_properties(gen))
  assert config.read_qc['max_bad_bases'] == 2
  assert config.read_qc['max_expected_errors'] is None
  assert (config.max_distance, config.min_pass_fraction) == (3, 0.2)
  qc = config.qc_config()
  assert (qc.max_bad_bases, qc.max_expected_errors, qc.min_mean_quality) == (
    2,
    None,
    30.0,
  )
