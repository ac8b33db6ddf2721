# dialbox — the two commands that matter: `make demo` and `make test`.
# Both build .venv from nothing with only Python 3.11, make and a C compiler.
# `make image` / `make image-test`: the bootable appliance image (image/README.md; root, slow).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest venv clean bench image image-test

$(STAMP): pyproject.toml setup.py appliance/_rowfast.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# `make demo DEMO_ARGS=--fresh` starts over; `DEMO_ARGS='--duration 30'` stops by itself.
demo: $(STAMP)
	$(BIN)/dialbox demo $(DEMO_ARGS)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy appliance tui

# Every core, a test file's tests on one worker (module fixtures start daemons and emulators).
# `make pytest PYTEST_JOBS=0` runs serially.
PYTEST_JOBS ?= auto
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_JOBS) --dist loadfile

image: $(STAMP)
	PYTHON=$(BIN)/python image/build.sh

image-test:
	$(PYTHON) image/test.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
