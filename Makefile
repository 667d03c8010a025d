# regdml: the two commands of the README, and a few helpers.
#   make demo   set up, generate the synthetic delivery and run the whole pipeline on it
#   make test   set up and run every test
#   make wheelhouse   offline installers for the research server (see README; needs PyPI)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
DEMO_PERSONS ?= 20000
DEMO_SEED ?= 20200501
DEMO_DIR ?= demo
# The demo's configuration (fixed LightGBM, see the file); empty: the plan's defaults (learner auto)
DEMO_CONFIG ?= data_contracts/demo_config.yaml
BENCH_SIZES ?= 100000,1000000,5000000
BENCH_DIR ?= scale-bench
WHEELHOUSE_DIR ?= wheelhouse
# Empty: all four targets; else e.g. WHEELHOUSE_TARGETS="windows-x86_64-py3.11"
WHEELHOUSE_TARGETS ?=
export DAGSTER_DISABLE_TELEMETRY := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test lint bench wheelhouse clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: setup
	$(BIN)/regdml synth --persons $(DEMO_PERSONS) --seed $(DEMO_SEED) --out $(DEMO_DIR)/deliveries/synthetic
	$(BIN)/regdml run --delivery $(DEMO_DIR)/deliveries/synthetic --workdir $(DEMO_DIR)/work \
		--truth $(DEMO_DIR)/deliveries/synthetic.truth.json $(if $(DEMO_CONFIG),--config $(DEMO_CONFIG))

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Needs only Python and pip (uv is fetched into the cache if missing), not the project's environment.
wheelhouse:
	$(PYTHON) scripts/build_wheelhouse.py --out $(WHEELHOUSE_DIR) $(foreach t,$(WHEELHOUSE_TARGETS),--target $(t))

# The full-scale benchmark (issue 8): synthetic deliveries of these sizes, the whole pipeline on each,
# per-step time and memory and the two baselines, into benchmarks/scale.md. Hours, not minutes.
bench: setup
	$(BIN)/python benchmarks/bench_scale.py --sizes $(BENCH_SIZES) --base $(BENCH_DIR)

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(BENCH_DIR) work .pytest_cache
