# Two entry points: `make serve` (install, then run the server on SQLite) and `make test`
# (install, then lint, type-check and run the whole test suite). Both create .venv on first use.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install serve test lint browser

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

# The console's browser tests drive Debian's Chromium; install it when missing and possible.
browser:
	@test -x /usr/bin/chromium || [ -n "$$AUDIENCE_SKIP_BROWSER" ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; } || \
	  echo "warning: /usr/bin/chromium is missing; the browser tests will fail"

# pytest exits 5 when no test ran, which fails this target like any other failure.
test: lint browser
	$(BIN)/pytest
