# Two commands on a fresh machine (README Quickstart):
#   make run    — install the runtime into .venv if needed, then build every figure on the offline default
#   make test   — install runtime + test + llm into .venv if needed, then lint and run the whole test suite
# Both install from requirements.lock (every package, transitive ones too, at one version):
#   run:  the runtime dependencies only, each at the lock's version (the lock as pip constraints);
#   test: the whole lock as it is (--no-deps), then upnn itself (editable, --no-deps).
# `make lock` rewrites requirements.lock from pyproject.toml (README, Development).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
PIP_VERSION := 26.3
# The torchattacks parity tests' reference, installed without its dependencies: its metadata pins
# requests~=2.25.1 (known CVEs) but it imports only torch, numpy, scipy and tqdm.
TORCHATTACKS := torchattacks==3.5.1
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
CORES ?= all
LOCK_VENV ?= /tmp/upnn-lock-venv

.PHONY: install install-test run test lint lock clean

install: $(RUN_STAMP)
install-test: $(TEST_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)

$(RUN_STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	@echo "make: installing upnn's runtime from $(LOCK) into $(VENV) (104 packages, about 6 GB with PyPI's CUDA torch; minutes on a first run)"
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	@echo "make: installing the whole $(LOCK) (runtime, test, llm and timm extras) into $(VENV) (about 6.5 GB; minutes on a first run)"
	$(BIN)/python -m pip install --quiet --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/snakemake --cores $(CORES)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

# pytest exits 5 when it collects no test: make treats that as a failure, never a pass.
test: lint
	$(BIN)/pytest

# The full resolved set (runtime + test + llm + torchattacks) for Python 3.11 on Linux x86_64,
# from a throwaway venv: pip resolves pyproject.toml's pins, pip freeze writes every version.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	$(LOCK_VENV)/bin/python -m pip install --quiet -e '.[test,llm,timm]'
	$(LOCK_VENV)/bin/python -m pip install --quiet --no-deps $(TORCHATTACKS)
	{ echo "# requirements.lock: every package of upnn[test,llm,timm] + $(TORCHATTACKS) (no deps), resolved"; \
	  echo "# for Python 3.11 on Linux x86_64. Regenerate with 'make lock'; tests/test_lock.py checks it."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf $(LOCK_VENV)

clean:
	rm -rf results/data results/checkpoints results/train logs benchmarks .snakemake
