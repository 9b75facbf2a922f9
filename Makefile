# Two entry points for a fresh machine: `make run` (the pipeline) and `make test` (the suite).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip here also reads local wheel folders and complains about each one it skips; keep the real errors.
QUIET_PIP := grep -v "^WARNING: Location" || true

.PHONY: setup run test bench clean
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --progress-bar off -e '.[test]' 2>&1 | { $(QUIET_PIP); }
	$(PY) -c "import quickdraw_vae, torch, dvc"
	touch $(STAMP)

run: setup
	$(VENV)/bin/dvc repro

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV)
