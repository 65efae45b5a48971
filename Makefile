# The two commands: `make demo` and `make test`. Both set up .venv from pyproject.toml when it is
# missing or older than pyproject.toml, so they work on a fresh machine with Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Prefect: local (ephemeral) mode, no telemetry, no stray profile from the machine.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME := $(CURDIR)/var/prefect

.PHONY: install demo test lint clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(INSTALLED)

# The demo authority is regenerated as of today, so each demo starts from a fresh demo store.
demo: install
	rm -f var/qaloop.db var/qaloop.db-wal var/qaloop.db-shm
	$(BIN)/qaloop init-db
	$(BIN)/qaloop demo-data
	$(BIN)/qaloop load

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check qaloop tests bench
	$(BIN)/ruff format --check qaloop tests bench

clean:
	rm -rf var output .pytest_cache
