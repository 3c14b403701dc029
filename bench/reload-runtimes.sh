#!/usr/bin/env bash
# bench/reload-runtimes.sh: rolling restarts under load with the runtimes users run, each as two
# workers of `cluster-sidecar run` on the app port (fd 3): our own echo, Node.js
# (http.createServer, server.close() on SIGTERM), gunicorn (WSGI, --preload, notify), uvicorn
# (ASGI) and Go (net/http on net.FileListener(fd 3), Server.Shutdown on SIGTERM; when `go` is
# there, e.g. Debian's golang-go). wrk opens a new connection per request (`Connection: close`, 16 at once) for
# SECONDS while the sidecar is sent RELOADS rolling restarts (SIGUSR2), evenly spaced.
# Prints, per runtime, the requests, the failed ones (wrk's socket errors and non-2xx) and
# the reloads the sidecar counted. A runtime that loses requests here loses them at its own
# shutdown (the old generation gets SIGTERM once the new one is ready).
#
# Usage: [SIDECAR_BIN=path] [RUNTIMES="echo node gunicorn uvicorn go"] bench/reload-runtimes.sh [SECONDS, default 12] [RELOADS, default 6]
# (installs wrk, gunicorn and uvicorn when missing; node must be there)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION="${1:-12}"
RELOADS="${2:-6}"
RUNTIMES="${RUNTIMES:-echo node gunicorn uvicorn$(command -v go >/dev/null && echo " go")}"
dpkg -s wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v gunicorn >/dev/null || pip install -q gunicorn
python3 -c 'import uvicorn' 2>/dev/null || pip install -q uvicorn
if [ -n "${SIDECAR_BIN:-}" ]; then BIN=$SIDECAR_BIN; else make -s release >/dev/null; BIN=.build/release/cluster-sidecar; fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/wsgi.py" <<'PY'
BODY = b'{"status":"ok"}'
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]
PY
cat > "$WORK/asgi.py" <<'PY'
BODY = b'{"status":"ok"}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
PY
cat > "$WORK/server.js" <<'JS'
const http = require('http');
const body = '{"status":"ok"}';
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
});
server.listen({ fd: 3 });
// The usual graceful stop: no new connections, the open ones finish.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
JS
cat > "$WORK/server.go" <<'GO'
package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listener, err := net.FileListener(os.NewFile(3, "app"))
	if err != nil {
		panic(err)
	}
	body := []byte(`{"status":"ok"}`)
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	// The usual graceful stop: no new connections, the open ones finish.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() { <-stop; server.Shutdown(context.Background()) }()
	if err := server.Serve(listener); err != http.ErrServerClosed {
		panic(err)
	}
}
GO
if [[ " $RUNTIMES " == *" go "* ]]; then (cd "$WORK" && GOCACHE="$WORK/gocache" go build -o server-go server.go); fi
export PYTHONPATH="$WORK"
up() { python3 -c 'import sys,urllib.request;urllib.request.urlopen(sys.argv[1],timeout=1)' "$1" 2>/dev/null; }
wait_up() { for _ in $(seq 400); do up "$1" && return 0; sleep 0.05; done; echo "reload-runtimes.sh: $1 did not come up" >&2; exit 1; }

# One runtime: prints one result line.
runtime() {
  local name=$1 port local_port pid ready=1
  local -a command
  case $name in
    echo) command=("$BIN" echo) ;;
    node) command=(node "$WORK/server.js") ;;
    gunicorn) command=(gunicorn --preload --workers 1 --log-level warning wsgi:app); ready=notify ;;
    uvicorn) command=(python3 -m uvicorn --fd 3 --log-level warning asgi:app) ;;
    go) command=("$WORK/server-go") ;;
    *) echo "unknown runtime $name" >&2; exit 64 ;;
  esac
  port=$(free_port); local_port=$(free_port)
  LOCAL_PORT=$local_port CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning APP_ADDRESS=127.0.0.1 APP_PORT=$port \
    APP_WORKERS=2 APP_READY=$ready APP_STOP_TIMEOUT=10 "$BIN" run -- "${command[@]}" >"$WORK/$name.log" 2>&1 &
  pid=$!
  wait_up "http://127.0.0.1:$local_port/readyz"
  wait_up "http://127.0.0.1:$port/health"
  wrk -t1 -c16 -d"${DURATION}s" -H "Connection: close" "http://127.0.0.1:$port/health" >"$WORK/wrk" 2>&1 &
  local wrk_pid=$!
  local gap; gap=$(awk -v d="$DURATION" -v n="$RELOADS" 'BEGIN{printf "%.2f", d/(n+1)}')
  for _ in $(seq "$RELOADS"); do
    sleep "$gap"
    kill -USR2 "$pid"
  done
  wait $wrk_pid || true
  local outcome
  outcome=$(python3 -c 'import json,sys,urllib.request;s=json.load(urllib.request.urlopen(sys.argv[1]));print(",".join(f"{k}={v}" for k,v in s["reloads"].items() if v) or "none")' "http://127.0.0.1:$local_port/app/workers" 2>/dev/null || echo "-")
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$WORK/wrk" "$name" "$outcome" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
name, outcome = sys.argv[2:]
n = int(re.search(r"(\d+) requests in", text).group(1))
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = dict(zip(["connect", "read", "write", "timeout"], map(int, sock.groups()))) if sock else {}
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
failed = sum(errors.values()) + non2xx
detail = ", ".join(f"{k} {v}" for k, v in errors.items() if v) + (f", non-2xx {non2xx}" if non2xx else "")
print(f"{name:9} {n:9d} {failed:7d}  {detail or '-':28} {outcome}")
PY
}

echo "rolling restarts under wrk -c16, a new connection per request: $RELOADS reloads in ${DURATION}s per runtime ($(nproc) cores)"
printf "%-9s %9s %7s  %-28s %s\n" runtime requests failed "failures" "reloads"
for r in $RUNTIMES; do runtime "$r"; done
