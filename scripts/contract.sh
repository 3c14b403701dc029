#!/usr/bin/env bash
# Checks the running binary against openapi.yaml with schemathesis (every check): the probes and
# the local API on the local listener, the cluster API (with a valid HS256 token) on the cluster one.
# Needs a built binary: BIN (default .build/debug/cluster-sidecar).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.build/debug/cluster-sidecar}"
command -v schemathesis >/dev/null || pip install -q schemathesis
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
LOCAL=$(free_port); CLUSTER=$(free_port)
SECRET=contract-test-secret-0123456789abcdef
LOCAL_PORT=$LOCAL CLUSTER_PORT=$CLUSTER CLUSTER_ADDRESS=127.0.0.1 SERVER_URL=http://127.0.0.1:9/app SERVER_TYPE=echo \
  JWT_SECRET=$SECRET FANOUT_TIMEOUT=1 LOG_LEVEL=warning "$BIN" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for port in $LOCAL $CLUSTER; do
  until { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; do sleep 0.01; done
  exec 3>&-
done
TOKEN=$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"exp": int(time.time()) + 3600, "cluster": True}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + sig).decode())
PY
)
# filter_too_much: Hypothesis gives up on some seeds when the proxy route's {path} pattern
# rejects most generated strings; that is about the generator, not the API (seen once in CI).
schemathesis run openapi.yaml --url "http://127.0.0.1:$LOCAL" --include-tag probes --include-tag local \
  --suppress-health-check=filter_too_much
schemathesis run openapi.yaml --url "http://127.0.0.1:$CLUSTER" --include-tag cluster -H "Authorization: Bearer $TOKEN"
# After that traffic: /metrics through the Prometheus reference parser, labels still bounded.
python3 -c 'import prometheus_client' 2>/dev/null || pip install -q prometheus-client
python3 scripts/check-metrics.py "http://127.0.0.1:$LOCAL"

# Supervisor mode: the same sidecar running the demo's echo application with two workers; the
# app endpoints (reloads, replacements) and /status with its `app` part, then /metrics again.
RUN_LOCAL=$(free_port)
LOCAL_PORT=$RUN_LOCAL CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 APP_ADDRESS=127.0.0.1 APP_PORT=0 APP_WORKERS=2 \
  APP_READY=notify APP_STOP_TIMEOUT=5 LOG_LEVEL=warning "$BIN" run -- "$BIN" echo >/dev/null 2>&1 &
RUN_PID=$!
trap 'kill $PID $RUN_PID 2>/dev/null || true' EXIT
ready() { python3 -c 'import sys,urllib.request;urllib.request.urlopen(sys.argv[1],timeout=1)' "$1" 2>/dev/null; }
for _ in $(seq 200); do ready "http://127.0.0.1:$RUN_LOCAL/readyz" && break; sleep 0.05; done
ready "http://127.0.0.1:$RUN_LOCAL/readyz" || { echo "contract: the supervised sidecar did not get ready"; exit 1; }
schemathesis run openapi.yaml --url "http://127.0.0.1:$RUN_LOCAL" --include-operation-id-regex '^(status|app[A-Za-z]*)$' \
  --suppress-health-check=filter_too_much
python3 scripts/check-metrics.py "http://127.0.0.1:$RUN_LOCAL"
kill -TERM $RUN_PID
wait $RUN_PID
