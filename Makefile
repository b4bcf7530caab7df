# Each target creates its own virtual environment (.venv) and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= $(if $(CODINGS_DATA_DIR),$(CODINGS_DATA_DIR),$(wildcard ../shared/data))

.PHONY: demo test notebook lint bench reproduce peers clean

# What the tour imports (a torch optimiser imports torch._dynamo, and with it sympy).
define WARM_UP
import torch, codings.cli, codings.tour, codings.plots
import sklearn.datasets, sklearn.decomposition, sklearn.linear_model, sklearn.metrics
torch.optim.Adam([torch.zeros(1, requires_grad=True)])
endef
export WARM_UP

# torch 2.13.0 is the CPU build; a range admitting newer releases would pull a CUDA build.
# One pip run installs torch and codings without byte-compiling all of torch (9,000 files,
# half of the install's time on a busy machine); importing what codings uses then compiles just
# those modules, once, even where PYTHONDONTWRITEBYTECODE is set. Others compile on first use.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-compile "torch==2.13.0" -e ".[dev,onnx,notebook,tensorboard,tables,series]" \
		|| $(BIN)/pip install --quiet --no-compile "torch>=2.2,<=2.14.1" -e ".[dev,onnx,notebook,tensorboard,tables,series]"
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -c "$$WARM_UP"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/codings tour --out tour

# The tests, then the notebook run from top to bottom in a real kernel (nbmake): a cell that
# raises, or runs past the per-cell timeout (seconds), fails the run.
NOTEBOOK := notebooks/autoencoders.ipynb
test: $(STAMP)
	CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/python -m pytest
	CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/python -m pytest --nbmake --nbmake-timeout=300 $(NOTEBOOK)

# The notebook with its outputs (figures included), for reading: notebooks/out/autoencoders.ipynb.
# The committed notebook stays without outputs.
notebook: $(STAMP)
	mkdir -p notebooks/out
	CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/jupyter-execute --timeout=300 \
		--output=out/autoencoders $(NOTEBOOK)

# Every published result at its full budget (hours on a CPU; see RESULTS.md), then RESULTS.md.
# `make reproduce ARGS=--quick` makes the smoke runs (marked as such in RESULTS.md); one script
# alone: $(BIN)/python benchmarks/reproduce/<script>.py [--quick].
REPRODUCE := hinton2006 vincent2010_sdae vincent2010_sae rifai2011_cae seed_stacked \
	seed_layerwise seed_classifier makhzani2015_wta burda2016_vae

reproduce: $(STAMP)
	for s in $(REPRODUCE); do \
		CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/python benchmarks/reproduce/$$s.py $(ARGS) || exit 1; \
	done
	$(BIN)/python benchmarks/reproduce/make_results.py

# Keras 3 on TensorFlow for the speed comparison only: its own environment, never a dependency.
KERAS_VENV := .venv-keras
$(KERAS_VENV)/.installed:
	$(PYTHON) -m venv $(KERAS_VENV)
	$(KERAS_VENV)/bin/pip install --quiet "tensorflow-cpu==2.21.0" "keras==3.15.1"
	touch $@

bench: $(STAMP) $(KERAS_VENV)/.installed
	$(BIN)/python benchmarks/roofline.py --batch-sizes 150,256
	CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/python benchmarks/train_speed.py --batch-sizes 150,256 --rounds 12
	CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/python benchmarks/encode_speed.py
	CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/python benchmarks/scaling.py
	CODINGS_DATA_DIR=$(abspath $(DATA)) $(BIN)/python benchmarks/memory.py

# pyod and pythae for the side-by-side comparison (benchmarks/peers/): each in its own
# environment, never a dependency of codings, which they reach through PYTHONPATH=src. The
# constraints file holds torch at codings' CPU pin, so neither peer can pull another torch.
PEERS_PIN := benchmarks/peers/constraints.txt
PEERS_DEPS := "numpy>=1.24" "scikit-learn>=1.4" "matplotlib>=3.7" "safetensors>=0.4" "tqdm>=4.60"
# The tables and series suites' data (benchmarks/peers/pyod_tables_series.py): aeon only for
# the series files in its wheel, which codings reads without importing it (hence --no-deps).
PEERS_DATA := "pandas>=2.2" "statsmodels>=0.14" "palmerpenguins>=0.1"
.venv-pyod/.installed: $(PEERS_PIN)
	$(PYTHON) -m venv .venv-pyod
	.venv-pyod/bin/pip install --quiet --no-compile -c $(PEERS_PIN) "torch==2.13.0" \
		"pyod==3.6.7" $(PEERS_DEPS) $(PEERS_DATA)
	.venv-pyod/bin/pip install --quiet --no-compile --no-deps "aeon==1.6.0"
	touch $@
.venv-pythae/.installed: $(PEERS_PIN)
	$(PYTHON) -m venv .venv-pythae
	.venv-pythae/bin/pip install --quiet --no-compile -c $(PEERS_PIN) "torch==2.13.0" \
		"pythae==0.1.2" $(PEERS_DEPS)
	touch $@

peers: .venv-pyod/.installed .venv-pythae/.installed

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks notebooks
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) $(KERAS_VENV) .venv-pyod .venv-pythae tour .pytest_cache
