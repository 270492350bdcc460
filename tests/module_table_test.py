"""The README's module table is the one the code's docstrings give."""

import os

from tools import module_table


def test_readme_holds_the_generated_module_table():
  with open(os.path.join(module_table.REPO_ROOT, 'README.md')) as f:
    readme = f.read()
  start = readme.index(module_table.BEGIN)
  end = readme.index(module_table.END) + len(module_table.END)
  assert readme[start:end] == module_table.table(), (
    'README module table is stale: run python -m tools.module_table'
  )


def test_every_module_has_a_summary():
  missing = [path for path, text in module_table.rows() if not text]
  assert not missing, f'modules without a docstring: {missing}'


def test_the_table_lists_every_module_file(tmp_path):
  package = tmp_path / 'tools'
  package.mkdir()
  (package / '__init__.py').write_text('"""Tools. More words."""\n')
  (package / 'one.py').write_text('"""First | sentence. Second."""\n')
  (package / 'one_test.py').write_text('"""Not listed."""\n')
  assert module_table.rows(str(tmp_path)) == [
    ('tools/', 'Tools.'),
    ('tools/one.py', 'First \\| sentence.'),
  ]
