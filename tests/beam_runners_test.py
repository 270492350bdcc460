"""Tests of the Beam runner presets."""

import os
import tempfile

from apache_beam.options import pipeline_options
import pytest
from tfx.utils import dependency_utils

from pipeline import beam_runners

_DATAFLOW = dict(
  project='my-project',
  region='europe-west4',
  temp_location='gs://bucket/tmp',
  sdk_container_image='europe-docker.pkg.dev/p/r/aptamer-tfx:1',
)


def _parsed(args):
  """What Beam itself makes of the arguments; each must be a Beam option."""
  parsed = pipeline_options.PipelineOptions(args).get_all_options()
  for arg in args:
    # Beam only warns about unknown arguments and drops them.
    assert arg[2:].split('=')[0] in parsed, arg
  return parsed


def test_direct_presets():
  assert beam_runners.beam_pipeline_args('in_memory') == [
    '--direct_running_mode=in_memory',
    '--direct_num_workers=1',
  ]
  assert beam_runners.beam_pipeline_args('multi_processing') == [
    '--direct_running_mode=multi_processing',
    '--direct_num_workers=0',
  ]
  args = beam_runners.beam_pipeline_args(
    'multi_processing', direct_num_workers='4'
  )
  assert _parsed(args)['direct_num_workers'] == 4


def test_dataflow_preset():
  args = beam_runners.beam_pipeline_args(
    'dataflow', max_num_workers=10, **_DATAFLOW
  )
  parsed = _parsed(args)
  assert parsed['runner'] == 'DataflowRunner'
  assert parsed['project'] == 'my-project'
  assert parsed['region'] == 'europe-west4'
  assert parsed['temp_location'] == 'gs://bucket/tmp'
  assert parsed['sdk_container_image'] == _DATAFLOW['sdk_container_image']
  assert parsed['machine_type'] == 'e2-standard-8'
  assert parsed['disk_size_gb'] == 50
  assert parsed['max_num_workers'] == 10
  assert 'use_runner_v2' in parsed['experiments']
  assert not any(a.startswith('--subnetwork') for a in args)


@pytest.mark.parametrize(
  'missing', ['project', 'region', 'temp_location', 'sdk_container_image']
)
def test_dataflow_names_the_missing_option(missing):
  options = {k: v for k, v in _DATAFLOW.items() if k != missing}
  with pytest.raises(beam_runners.BeamRunnerError, match=missing) as e:
    beam_runners.beam_pipeline_args('dataflow', **options)
  assert e.value.options == [missing]


def test_dataflow_needs_gcs_temp_location():
  with pytest.raises(beam_runners.BeamRunnerError, match='gs://'):
    beam_runners.beam_pipeline_args(
      'dataflow', **{**_DATAFLOW, 'temp_location': '/tmp/x'}
    )


def test_flink_preset():
  args = beam_runners.beam_pipeline_args(
    'flink', flink_master='flink:8081', parallelism=8, flink_version='1.17'
  )
  parsed = _parsed(args)
  assert parsed['runner'] == 'FlinkRunner'
  assert parsed['flink_master'] == 'flink:8081'
  assert parsed['flink_version'] == '1.17'
  assert parsed['flink_submit_uber_jar'] is True
  assert parsed['parallelism'] == 8
  assert parsed['environment_type'] == 'LOOPBACK'
  assert 'use_loopback_process_worker=True' in parsed['experiments']
  with pytest.raises(beam_runners.BeamRunnerError, match='flink_master'):
    beam_runners.beam_pipeline_args('flink')


def test_spark_preset():
  args = beam_runners.beam_pipeline_args(
    'spark', spark_rest_url='http://spark:6066', sdk_worker_parallelism=4
  )
  parsed = _parsed(args)
  assert parsed['runner'] == 'SparkRunner'
  assert parsed['spark_submit_uber_jar'] is True
  assert parsed['spark_rest_url'] == 'http://spark:6066'
  assert str(parsed['sdk_worker_parallelism']) == '4'
  assert parsed['environment_type'] == 'LOOPBACK'
  with pytest.raises(beam_runners.BeamRunnerError, match='spark_rest_url'):
    beam_runners.beam_pipeline_args('spark')


def test_unknown_runner_and_options():
  with pytest.raises(beam_runners.BeamRunnerError, match='known'):
    beam_runners.beam_pipeline_args('prism')
  with pytest.raises(beam_runners.BeamRunnerError, match='project') as e:
    beam_runners.beam_pipeline_args('in_memory', project='p')
  assert e.value.options == ['project']
  with pytest.raises(beam_runners.BeamRunnerError, match='integer'):
    beam_runners.beam_pipeline_args('flink', flink_master='f', parallelism='x')


def test_options_not_given_are_ignored():
  # The runners pass every --beam_* flag; None means "not given".
  assert beam_runners.beam_pipeline_args(
    'in_memory', project=None
  ) == beam_runners.beam_pipeline_args('in_memory')


def test_extra_args_are_appended_and_win():
  args = beam_runners.beam_pipeline_args(
    'in_memory', extra_args=['--direct_num_workers=2']
  )
  assert args[-1] == '--direct_num_workers=2'
  assert _parsed(args)['direct_num_workers'] == 2


def test_every_option_has_one_definition():
  # One flag per option name: same name, same type and help everywhere.
  for name in beam_runners.option_names():
    defs = {
      (o.type, o.help)
      for p in beam_runners.PRESETS.values()
      for o in p.options
      if o.name == name
    }
    assert len(defs) == 1, name


def test_local_dependencies_stop_tfx_packaging_itself(tmp_path, monkeypatch):
  # TFX's own check, run for real: with setup.py named, it neither adds an
  # --extra_package nor writes a tfx_ephemeral copy into the temp directory.
  monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
  args = beam_runners.with_local_dependencies(
    beam_runners.beam_pipeline_args('multi_processing', direct_num_workers=2)
  )
  assert args[-1] == f'--setup_file={beam_runners.SETUP_FILE}'
  assert os.path.exists(beam_runners.SETUP_FILE)
  assert _parsed(args)['setup_file'] == beam_runners.SETUP_FILE
  assert dependency_utils.make_beam_dependency_flags(args) == args
  assert os.listdir(tmp_path) == []


def test_without_local_dependencies_tfx_packages_itself(tmp_path, monkeypatch):
  # What the test above avoids, so that it cannot pass by accident.
  monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
  args = beam_runners.beam_pipeline_args('in_memory')
  flags = dependency_utils.make_beam_dependency_flags(args)
  assert flags[-1].startswith('--extra_package=' + str(tmp_path))
  assert os.listdir(tmp_path)


def test_local_dependencies_keep_a_given_dependency_option():
  args = ['--direct_num_workers=1', '--extra_package=/wheels/a.whl']
  assert beam_runners.with_local_dependencies(args) == args
