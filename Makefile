# The two set-up commands: `make demo` and `make test`. Both install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint deps system-deps bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

# Debian packages the real-parts tests drive; installed only when running as root.
system-deps:
	@bash scripts/system-deps.sh

demo: deps
	$(BIN)/corridor demo

test: deps system-deps
	$(BIN)/ruff check corridor tests
	$(BIN)/mypy
	$(BIN)/pytest

lint: deps
	$(BIN)/ruff check corridor tests
	$(BIN)/mypy

bench: deps
	$(BIN)/corridor bench txn

clean:
	rm -rf $(VENV) var build *.egg-info .mypy_cache
