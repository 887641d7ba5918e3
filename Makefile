# Two commands do all set-up on a fresh machine: `make demo` and `make test` (each installs into .venv first).
# torch is pinned: `pip install torch==2.13.0` takes the CPU build; an unpinned torch pulls gigabytes of CUDA.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xlgen-installed
TORCH ?= torch==2.13.0

.PHONY: install demo test test-min bench clean

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

# -q comes from pyproject's addopts: a second -q here would hide pytest's closing summary line (tests/test_packaging.py).
# One worker per core (pytest-xdist), each test file on one worker so its module fixtures are built once: the tiny
# models run on one thread each (tests/conftest.py), so a serial run left all cores but one idle.
test: $(STAMP)
	$(BIN)/python -m pytest -x -n auto --dist loadfile --durations=15

# The version-sensitive tests against the minimum transformers and peft pyproject.toml declares (and the hub client
# that transformers 5.17 accepts), installed beside the venv's own in .min-deps/.
MIN_DEPS := transformers==5.17.0 peft==0.21.2 huggingface-hub==1.33.0
test-min: $(STAMP)
	rm -rf .min-deps && $(BIN)/python -m pip install -q --no-deps --target .min-deps $(MIN_DEPS)
	PYTHONPATH=.min-deps $(BIN)/python -m pytest -x -q tests/test_versions.py tests/test_generation.py tests/test_guards.py tests/test_adaptation.py tests/test_perf_losses_models.py "tests/test_train.py::test_train_evaluate_every_family"

clean:
	rm -rf runs/demo .pytest_cache

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
