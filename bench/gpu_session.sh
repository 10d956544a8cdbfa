#!/usr/bin/env bash
# Every GPU measurement of issue 15 in one call per phase, for a session that has a GPU machine
# (Python 3.12 + a CUDA build of torch; no pydantic, typer, tritonclient, no network).
#
# Here, once (needs PyPI):         bench/gpu_session.sh download
# There, through the device tool:  bench/gpu_session.sh bench    carry: ["bench/wheels/base"]   (~8 min)
#                     right after: bench/gpu_session.sh served   carry: ["bench/wheels/onnx"]   (~3 min)
# The two wheel sets together are over the 64 MiB a call carries; `served` reuses the packages
# `bench` installed into .gpu_site/, so run it while the machine is still warm (or carry
# bench/wheels/base again and run `bench` first). Raw figures go to bench/results/ and, on the
# device machine, to $OUT/results/ so they come back.
set -euo pipefail
cd "$(dirname "$0")/.."
phase="${1:-bench}"
PY="${PYTHON:-python3}"
SITE="$PWD/.gpu_site"
RESULTS="bench/results"
PLATFORMS=(--platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64)

if [[ "$phase" == download ]]; then
    for set in base:bench/gpu_requirements.txt onnx:bench/gpu_requirements_onnx.txt; do
        "$PY" -m pip download --quiet --only-binary=:all: --no-deps --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
            -d "bench/wheels/${set%%:*}" -r "${set#*:}"
    done
    du -sh bench/wheels/*
    exit 0
fi

mkdir -p "$RESULTS"
wheels="bench/wheels/$([[ "$phase" == bench ]] && echo base || echo onnx)"
"$PY" -m pip install --quiet --no-index --no-deps --target "$SITE" "$wheels"/*.whl
export PYTHONPATH="$PWD/src:$SITE"
log() { tee -a "$RESULTS/gpu_session_$phase.log"; }

if [[ "$phase" == bench ]]; then
    { nvidia-smi; "$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"; } 2>&1 | log
    # Noise bits: numpy == torch CPU == torch CUDA.
    "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/core/test_torch_noise.py 2>&1 | log
    # H100 SXM dense float32 peak: 67 TFLOPS (PEAK_TFLOPS to override, e.g. 989 for bf16 comparisons).
    peak="${PEAK_TFLOPS:-67}"
    # One batch per call (32 x 1024 px fits an 80 GB card) against the default 1 Mpx budget, same run.
    "$PY" bench/gpu.py --device cuda --peak-tflops "$peak" --chunk-pixels $((32 * 1024 * 1024)) --out "$RESULTS/gpu_cuda.json" 2>&1 | log
    "$PY" bench/gpu.py --device cuda --peak-tflops "$peak" --skip training memory --out "$RESULTS/gpu_cuda_default_budget.json" 2>&1 | log
elif [[ "$phase" == served ]]; then
    # Served (onnxruntime, CPU provider) == in process on CUDA within one level; IOBinding == plain run.
    "$PY" -m pytest -q -p no:cacheprovider tests/serving/test_device_resident.py 2>&1 | log
else
    echo "usage: $0 download|bench|served" >&2
    exit 2
fi
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT/results" && cp "$RESULTS"/gpu_* "$OUT/results/"
fi
