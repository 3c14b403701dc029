#!/usr/bin/env bash
# Checks the running binary against openapi.yaml with schemathesis (every check), on the local API.
# Needs a built binary: BIN (default .build/debug/cluster-sidecar).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.build/debug/cluster-sidecar}"
command -v schemathesis >/dev/null || pip install -q schemathesis
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
LOCAL_PORT=$PORT CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 SERVER_URL=http://127.0.0.1:9/app LOG_LEVEL=warning "$BIN" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; do sleep 0.01; done
exec 3>&-
schemathesis run openapi.yaml --url "http://127.0.0.1:$PORT" --checks all
