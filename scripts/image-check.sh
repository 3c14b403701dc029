#!/usr/bin/env bash
# Proves the Dockerfile's steps without a Docker engine: the same static-stdlib release build,
# the same strip, then the stripped binary started as the image starts it and checked with the
# image's HEALTHCHECK command (cluster-sidecar health), and stopped with SIGTERM (exit 0).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --static-swift-stdlib --product cluster-sidecar
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT
install -D .build/release/cluster-sidecar "$OUT/cluster-sidecar"
strip "$OUT/cluster-sidecar"
echo "image-check: stripped binary $(du -h "$OUT/cluster-sidecar" | cut -f1)"
# shellcheck source=bench/lib.sh
. bench/lib.sh
export LOCAL_PORT; LOCAL_PORT=$(free_port)
export CLUSTER_PORT; CLUSTER_PORT=$(free_port)
"$OUT/cluster-sidecar" >"$OUT/log" 2>&1 &
PID=$!
for _ in $(seq 100); do "$OUT/cluster-sidecar" health 2>/dev/null && break; sleep 0.05; done
"$OUT/cluster-sidecar" health
kill -TERM "$PID"
wait "$PID"
echo "image-check: HEALTHCHECK passes, SIGTERM exits 0"
