# Two commands on a fresh machine (see README):  make run   |   make test
VENV   ?= .venv
PYTHON ?= python3
CONFIG ?= config.yaml
CORES  ?= all
BIN    := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run reproduce test bench bench-slurm clean-results

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# the whole benchmark: data -> landmarks -> alignment -> embeddings -> metrics -> report/index.html
run: $(BIN)/.installed
	snakemake --cores $(CORES) --configfile $(CONFIG)

# every seed table a CPU can fill, in one DAG and one report: lfw-local + lfw-mini + studies-mini (offline data)
reproduce: $(BIN)/.installed
	snakemake --cores $(CORES) --configfile config/reproduce.yaml

# unit tests, then the integration tests that run the DAG on a small real subset of ../shared/data
test: $(BIN)/.installed
	python -m pytest -q tests

bench: $(BIN)/.installed
	python bench/eval_pairs_speed.py
	python bench/embed_throughput.py
	python bench/onnx_embed.py
	python bench/mtcnn_throughput.py
	python bench/train_throughput.py
	python bench/ddp_scaling.py

# the smoke DAG locally and through profiles/slurm; needs a running cluster (.ci/slurm-up starts one, as root)
bench-slurm: $(BIN)/.installed
	python bench/slurm_overhead.py

clean-results:
	rm -rf results report/index.html report/manifest.json .snakemake
