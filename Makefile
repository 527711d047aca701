# Two commands for a fresh machine: `make demo` (train the default BigGAN on built-in digits,
# then sample from it) and `make test` (the test suite). Both build their own virtualenv.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.ganforge-installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "torch==2.13.*"
	$(BIN)/pip install --quiet -e ".[dev,hf,serve,hdf5]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ganforge train --out runs/demo --overwrite
	$(BIN)/ganforge sample runs/demo --n 8 --truncation 1.0 --seed 0 --out runs/demo/grid.png
	@echo "open runs/demo/grid.png (one row per digit) and runs/demo/samples/"

test: $(STAMP)
	$(BIN)/pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs
