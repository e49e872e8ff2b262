# Set-up and the two commands the README starts with. Each target creates .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint gpu clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## the main job on built-in data: build (train, prune, int8, export, bench, report) into runs/demo
	$(BIN)/resnet-edge build --depth 20 --epochs 10 --per-class 500 --quantize int8 --out runs/demo

test: lint  ## the default test run (lint first): tiny models, under 15 minutes on 2 cores
	$(BIN)/python -m pytest

test-slow: $(STAMP)  ## the long tests (real training, large models)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)  ## ruff (lint and format) and the import layering; `make test` runs it first
	$(BIN)/ruff check resnet_edge tests benchmarks scripts
	$(BIN)/ruff format --check resnet_edge tests benchmarks scripts
	$(BIN)/python scripts/import_graph.py --check

gpu: $(STAMP)  ## CUDA TensorFlow + onnxruntime-gpu (which ships the same `onnxruntime` module as the CPU wheel)
	$(BIN)/python -m pip install --quiet -e '.[dev,gpu]'
	$(BIN)/python -m pip uninstall --yes onnxruntime
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps onnxruntime-gpu==1.31.1

clean:
	rm -rf $(VENV) runs .pytest_cache
