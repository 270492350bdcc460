"""`aptamer-tfx report` renders a run; headless Chromium opens the page."""

import os
import re
import shutil
import subprocess

import handmade_data
import pytest

from pipeline import local_runner
from tools import cli

_CHROMIUM_FLAGS = (
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
)


@pytest.mark.e2e
def test_report_renders_tables_and_images_in_chromium(tmp_path, capsys):
  chromium = shutil.which('chromium')
  assert chromium, 'Debian chromium is needed (make test installs it)'
  options = handmade_data.small_run_options(tmp_path, 'reported', epochs=2)
  local_runner.run(options)
  output = str(tmp_path / 'report.html')
  assert cli.main(['report', options.run_dir, '--output', output]) == 0
  assert 'Report written to' in capsys.readouterr().out

  dom = subprocess.run(
    [
      chromium,
      *_CHROMIUM_FLAGS,
      f'--user-data-dir={tmp_path / "chromium"}',
      '--dump-dom',
      f'file://{output}',
    ],
    capture_output=True,
    text=True,
    timeout=120,
    check=True,
  ).stdout
  # The tables, in the rendered DOM.
  for heading in (
    'Model validation',
    'Against the baseline',
    'Metrics per slice',
    'Metrics per output',
  ):
    assert heading in dom
  assert dom.count('<table') >= 3
  assert 'gc_content_bucket' in dom and 'input_count_bucket' in dom
  assert 'round1_positive' in dom
  # Every image decoded in the browser (counted by the page on load): two
  # training curves and, per output, a ROC curve and a scatter plot.
  rendered = re.search(r'images rendered: (\d+) of (\d+)', dom)
  assert rendered, dom[-2000:]
  ok, total = map(int, rendered.groups())
  assert ok == total >= 4


def test_report_of_a_missing_run_is_a_clear_error(tmp_path, capsys):
  assert cli.main(['report', str(tmp_path)]) == 2
  assert 'no metadata.db' in capsys.readouterr().err
  assert not os.path.exists(tmp_path / 'report.html')
