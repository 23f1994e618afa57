# Two commands matter: `make demo` runs the main job, `make test` runs the checks.
# `make test-fast` is the quick loop; `make docs` builds the documentation site strictly.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# pytest-xdist workers. The full suite runs in one process: it takes about two minutes on an idle
# 2-core machine, and some store tests measure real time, which two busy workers would disturb.
# `make test-fast` uses both cores.
PYTEST_N ?= 0
FAST_N   ?= 2
# Some environments set PYTHONDONTWRITEBYTECODE: every run would then compile and assert-rewrite
# every test module again (seconds of the fast loop). The caches are git-ignored.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: test test-fast demo lint typecheck pytest docs bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Lint, types and the full suite, as CI runs it (.ci/run).
test: $(STAMP) lint typecheck pytest

# Everything but the tests marked slow (slower than ~2 s, or starting processes).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(FAST_N) -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check moeseg tests benchmarks examples
	$(VENV)/bin/ruff format --check moeseg tests benchmarks examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict moeseg

pytest: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_N) $(PYTEST_ARGS)

# The documentation site (docs/, mkdocs.yml) into build/site; a broken link or reference fails.
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --quiet

# The main job: a batch of examples/segments.yaml against the embedded sandbox, every quota window
# scaled by 0.05 (60 s -> 3 s) so the governor's pacing shows. The file holds one invalid item and
# one duplicate on purpose; --accept lets them count as expected for the exit code.
demo: $(STAMP)
	$(PY) -m moeseg create examples/segments.yaml --dry-run --sandbox --time-scale 0.05
	$(PY) -m moeseg create examples/segments.yaml --sandbox --time-scale 0.05 \
		--accept invalid --accept duplicate

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
