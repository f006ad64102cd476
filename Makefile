# The two commands of the quick start: `make demo` and `make test`. Each installs what it
# needs on a fresh Debian machine with Python 3.11 (see scripts/bootstrap.sh).
SHELL := /bin/bash
VENV := .venv
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv

.PHONY: install demo test lint bench clean

# one stamp per purpose: `make demo` installs only what the demo needs, `make test` the suite's parts
$(VENV)/.installed-%: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh $*
	touch $@

.PRECIOUS: $(VENV)/.installed-%
install: $(VENV)/.installed-test

## demo: bring JupyterLab up on this computer (the local backend) and print its URL
demo: $(VENV)/.installed-demo
	$(VENV)/bin/roost up jupyter
	@echo "password: $(VENV)/bin/roost password jupyter    stop: $(VENV)/bin/roost down jupyter"

## lint: the habits CI keeps: import layers (import-linter), ruff (lint and format), mypy
lint: $(VENV)/.installed-test
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

## test: the habits above, then the whole suite (unit, contract, end-to-end with real processes)
test: lint
	$(VENV)/bin/pytest

## bench: the performance benchmarks (prints name=value lines)
bench: $(VENV)/.installed-bench
	$(VENV)/bin/python bench/launch.py
	$(VENV)/bin/python bench/ssh.py
	$(VENV)/bin/python bench/backup.py
	$(VENV)/bin/python bench/serve.py
	$(VENV)/bin/python bench/failover.py
	$(VENV)/bin/python bench/dashboard.py
	$(VENV)/bin/python bench/scale.py
	$(VENV)/bin/python bench/aws_scale.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
