# Two entry points that do all set-up on a fresh machine (Python >= 3.10 with venv):
#   make demo   - the whole pipeline on CPU in minutes, synthetic data, no downloads
#   make test   - the test suite
# TORCH lets GPU users pick their build, e.g. `make test TORCH='torch>=2.5'`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup test demo clean

$(BIN)/craft-jepa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/craft-jepa

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/craft-jepa demo --out demo-out

clean:
	rm -rf $(VENV) demo-out
