# Two commands on a fresh machine with Python 3.11+ and make:
#   make run   - install, then run the main job on the bundled example dataset
#   make test  - install, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Azurite (the Azure Blob emulator the cloud tests start) comes from npm, into .tools/.
AZURITE := .tools/node_modules/.bin/azurite-blob

.PHONY: install run test lint bench clean

$(BIN)/polyclass: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/polyclass

$(AZURITE):
	npm install --no-audit --no-fund --silent --prefix .tools azurite@3

run: install
	$(BIN)/polyclass train examples/penguins.csv --target species --out out/penguins --overwrite

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

test: lint $(AZURITE)
	$(BIN)/python -m pytest -n 2 --durations=15

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
