# The two commands a new user needs: `make demo` and `make test`. Everything else hangs off them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch; a looser pin would pull a multi-GB CUDA build. GPU users: see README.
TORCH  := torch==2.13.0
DEMO_IMAGE := examples/images/train/balloons.png
DEMO_RUN   := runs/demo

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

demo: install
	rm -rf $(DEMO_RUN) out/demo
	$(BIN)/sigctl train $(DEMO_IMAGE) --preset quick --out $(DEMO_RUN)
	$(BIN)/sigctl info $(DEMO_RUN)
	$(BIN)/sigctl sample --local $(DEMO_RUN) --num 4 --out out/demo/training-size
	$(BIN)/sigctl sample --local $(DEMO_RUN) --num 4 --height 64 --width 160 --out out/demo/wide
	$(BIN)/sigctl sample --local $(DEMO_RUN) --num 4 --height 96 --width 64 --start-scale 1 --out out/demo/tall-from-scale-1
	@echo "demo images: $(DEMO_RUN)/samples.png, $(DEMO_RUN)/losses.png, out/demo/*/grid.png"

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/train_speed.py

clean:
	rm -rf $(VENV) runs out
