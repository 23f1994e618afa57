# Two commands matter: `make demo` runs the main job, `make test` runs the checks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check moeseg tests benchmarks examples
	$(VENV)/bin/ruff format --check moeseg tests benchmarks examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict moeseg

pytest: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The main job: a batch of examples/segments.yaml against the embedded sandbox, every quota window
# scaled by 0.05 (60 s -> 3 s) so the governor's pacing shows. The file holds one invalid item and
# one duplicate on purpose; --accept lets them count as expected for the exit code.
demo: $(STAMP)
	$(PY) -m moeseg plan examples/segments.yaml --sandbox --time-scale 0.05
	$(PY) -m moeseg create examples/segments.yaml --sandbox --time-scale 0.05 \
		--accept invalid --accept duplicate

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
