# Two commands on a fresh machine (README Quickstart):
#   make run    — install into .venv if needed, then build every figure on the offline default
#   make test   — install into .venv if needed, then lint and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: install run test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,llm]'
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

# pytest exits 5 when it collects no test: make treats that as a failure, never a pass.
test: lint
	$(BIN)/pytest

clean:
	rm -rf results/data results/checkpoints results/train logs benchmarks .snakemake
