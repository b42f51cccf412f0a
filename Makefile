# Two entry points: `make serve` (install, then run the server on SQLite) and `make test`
# (install, then lint, type-check and run the whole test suite). Both create .venv on first use.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install serve test lint bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

serve: install
	$(BIN)/audience serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# pytest exits 5 when no test ran, which fails this target like any other failure.
test: lint
	$(BIN)/pytest
