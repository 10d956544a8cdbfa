#!/usr/bin/env bash
# The README's demo: train the quick preset on a bundled image, export it, start the real Triton
# server, sample over gRPC at three sizes, and stop the server. Run through `make demo`.
set -euo pipefail
BIN=${BIN:-.venv/bin}
IMAGE=${DEMO_IMAGE:-examples/images/train/balloons.png}
RUN=runs/demo
OUT=out/demo
REPO=model_repository
GRPC_PORT=${DEMO_GRPC_PORT:-8101}
HTTP_PORT=${DEMO_HTTP_PORT:-8100}
METRICS_PORT=${DEMO_METRICS_PORT:-8102}

rm -rf "$RUN" "$OUT" "$REPO/demo"
"$BIN/sigctl" train "$IMAGE" --preset quick --out "$RUN"
"$BIN/sigctl" info "$RUN"
"$BIN/sigctl" export "$RUN" --repo "$REPO" --name demo

mkdir -p "$OUT"
"$BIN/sigctl" serve --repo "$REPO" --grpc-port "$GRPC_PORT" --http-port "$HTTP_PORT" --metrics-port "$METRICS_PORT" >"$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "stops the server" "$OUT/serve.log" && break
  kill -0 $SERVER 2>/dev/null || { cat "$OUT/serve.log"; echo "sigctl serve failed to start" >&2; exit 1; }
  sleep 0.2
done
cat "$OUT/serve.log"

SERVER_URL=127.0.0.1:$GRPC_PORT
"$BIN/sigctl" sample --server "$SERVER_URL" --model demo --num 4 --out "$OUT/training-size"
"$BIN/sigctl" sample --server "$SERVER_URL" --model demo --num 4 --height 64 --width 160 --out "$OUT/wide"
"$BIN/sigctl" sample --server "$SERVER_URL" --model demo --num 4 --height 96 --width 64 --start-scale 1 --out "$OUT/tall-from-scale-1"

kill -TERM $SERVER
wait $SERVER
trap - EXIT
echo "demo images: $RUN/samples.png, $RUN/losses.png, $OUT/*/grid.png (sampled over gRPC from tritonserver)"
