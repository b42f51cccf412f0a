# Two entry points: `make serve` (install, then run the server on SQLite) and `make test`
# (install, then lint, type-check and run the whole test suite). Both create .venv on first use.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install serve test lint browser node sdk-ts

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

# The TypeScript SDK needs Node >= 18 and npm: Debian's `nodejs` and `npm`, installed when
# missing and possible (as root with apt-get).
node:
	@command -v node >/dev/null && command -v npm >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }; } || \
	  { echo "error: node and npm are missing (Debian: apt-get install nodejs npm)"; exit 1; }

# The TypeScript SDK (sdk/typescript): npm ci, build, and its tests against a real
# `audience serve` of this .venv on a temporary SQLite file. Skipped when
# AUDIENCE_TEST_DATABASE_URL is set: it never uses that database, so CI's PostgreSQL pass would
# only repeat what its SQLite pass ran.
sdk-ts: install node
	@if [ -n "$$AUDIENCE_TEST_DATABASE_URL" ]; then \
	  echo "sdk-ts: skipped (AUDIENCE_TEST_DATABASE_URL is set; the SDK suite runs on SQLite only)"; \
	else \
	  cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error && \
	  AUDIENCE_BIN="$(abspath $(BIN))/audience" npm test; \
	fi

# pytest exits 5 when no test ran, which fails this target like any other failure.
test: lint browser
	$(BIN)/pytest
	$(MAKE) sdk-ts
