# aptamer-tfx developer commands. `make demo` and `make test` are the two
# setup commands of the README: each creates the environment if it is missing.

# Python 3.10 is the newest Python TFX 1.16 supports; pyenv shims may hide it.
PYTHON310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do $$p -c '' 2>/dev/null && { echo $$p; break; }; done)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv browser demo test test-fast lint constraints clean

venv: $(STAMP)

$(STAMP): setup.py constraints.txt
	@test -n "$(PYTHON310)" || { echo 'Python 3.10 not found (set PYTHON310=/path/to/python3.10)'; exit 1; }
	test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	$(PY) -m pip check
	touch $(STAMP)

# Runs the whole pipeline on the bundled simulated dataset, from its FASTQ
# reads (simulated from data/demo_reads.json on first use), then scores the
# pushed model and its designs against the simulator's ground truth.
demo: $(STAMP)
	$(PY) -m pipeline.local_runner --dataset=demo_reads --run_name=demo

# The report test opens the HTML report in headless Debian Chromium.
browser:
	@command -v chromium >/dev/null || { \
	  echo 'Installing Debian chromium (for the report test)'; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Every test, end-to-end pipelines included (this is what CI runs), on two
# pytest-xdist workers: the container image build and the pipelines' single-
# threaded stretches overlap (tests/conftest.py keeps shared fixtures on one
# worker).
test: $(STAMP) browser
	$(PY) -m pytest -q -ra --durations=30 -n 2 --dist loadscope

# Unit tests only, for quick iteration.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not e2e'

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Regenerates constraints.txt from the current (working) environment.
constraints: $(STAMP)
	(echo '# Full resolved dependency set for aptamer-tfx (Python 3.10, Linux x86_64).'; \
	 echo '# Regenerate: make constraints (pip freeze of a working install).'; \
	 $(PY) -m pip freeze --exclude-editable | grep -v '^aptamer') > constraints.txt

clean:
	rm -rf $(VENV) output *.egg-info
