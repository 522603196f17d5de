# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATASET ?= online-retail-ii
PYTEST_WORKERS ?= 2

.PHONY: install run test test-fast lab ui bench lock clean help

help:
	@echo "make run    - create .venv if missing, install, run the main job on $(DATASET)"
	@echo "make test   - create .venv if missing, install, run the whole suite (notebooks too)"
	@echo "make lab    - open JupyterLab on notebooks/"
	@echo "make ui     - MLflow UI on mlruns/ (http://127.0.0.1:5000)"
	@echo "make bench  - run the benchmarks, results in benchmarks/results/"
	@echo "make lock   - re-pin requirements.lock from the current .venv"

# The venv is (re)installed when pyproject.toml or the lock file changes.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,spark]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/scoring run --dataset $(DATASET)

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=15

test-fast: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not slow and not notebook and not spark"

lab: install
	$(BIN)/jupyter lab notebooks/

ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000

bench: install
	$(BIN)/python benchmarks/run_all.py

lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) data/interim data/processed .pytest_cache
