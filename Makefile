# Developer and CI entry points. `make test` installs everything it needs first.
PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
# The demo's own venv: the package with its `local` extra (moto), no dev tools, no Java.
DEMO_VENV   ?= .venv-demo
DEMO_STAMP  := $(DEMO_VENV)/.installed
# Test workers (pytest-xdist): each runs its own DynamoDB Local; `make test WORKERS=0` runs in one process.
WORKERS     ?= auto
PYTEST_ARGS ?=

.DEFAULT_GOAL := test
.PHONY: install test lint demo clean distclean

# Python deps (re-run when pyproject.toml changes), then Java 17 + DynamoDB Local.
install: $(STAMP)
	bash scripts/install-backends.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

test: install
	$(BIN)/python -m pytest --numprocesses=$(WORKERS) --maxprocesses=4 --dist=loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Only what the demo needs: the package and moto, in $(DEMO_VENV) (not Java, not DynamoDB Local).
$(DEMO_STAMP): pyproject.toml
	test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[local]'
	touch $@

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/session-store demo

# Caches and build output; `distclean` also drops the venv and node_modules.
clean:
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -path ./$(DEMO_VENV) -prune -o -path ./node_modules -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(DEMO_VENV) node_modules
