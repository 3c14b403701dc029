#!/usr/bin/env bash
# bench/reload.sh: rolling restarts under load. `cluster-sidecar run` supervising two gunicorn
# processes (fd 3, notify readiness, --preload so that READY=1 means the application loaded)
# against gunicorn's own reload (two workers, SIGHUP to its arbiter), on the same WSGI app.
#
# Two scenarios per side, each under wrk opening a new connection per request
# (`Connection: close`) for SECONDS:
#   good:   three reloads of a working release, evenly spaced;
#   broken: one reload to a release that fails at import (a file the app reads says so).
# Prints requests, failed requests (socket errors + non-2xx), req/s, and the supervisor's CPU
# (the sidecar's; gunicorn's arbiter) per reload from /proc/PID/stat, and its RSS. The
# supervisor never touches a request: its CPU per request is ~0 on both sides, so the figure
# that matters is the failed requests.
#
# Usage: [SIDECAR_BIN=path] bench/reload.sh [SECONDS per scenario, default 12]   (installs wrk, gunicorn)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION="${1:-12}"
dpkg -s wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v gunicorn >/dev/null || pip install -q gunicorn
if [ -n "${SIDECAR_BIN:-}" ]; then BIN=$SIDECAR_BIN; else make -s release >/dev/null; BIN=.build/release/cluster-sidecar; fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/app.py" <<'PY'
import os
if open(os.environ["MODE_FILE"]).read().strip() == "broken":
    raise RuntimeError("this release is broken")
BODY = b'{"status":"ok"}'
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]
PY
export MODE_FILE="$WORK/mode" PYTHONPATH="$WORK"
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
up() { python3 -c 'import sys,urllib.request;urllib.request.urlopen(sys.argv[1],timeout=1)' "$1" 2>/dev/null; }
wait_up() { for _ in $(seq 400); do up "$1" && return 0; sleep 0.05; done; echo "reload.sh: $1 did not come up" >&2; exit 1; }

# One scenario: $1 side (sidecar|gunicorn), $2 scenario (good|broken). Prints one result line.
scenario() {
  local side=$1 kind=$2 port local_port pid reloads
  echo ok > "$MODE_FILE"
  port=$(free_port)
  if [ "$side" = sidecar ]; then
    local_port=$(free_port)
    LOCAL_PORT=$local_port CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning APP_ADDRESS=127.0.0.1 APP_PORT=$port \
      APP_WORKERS=2 APP_READY=notify APP_STOP_TIMEOUT=10 \
      "$BIN" run -- gunicorn --preload --workers 1 --log-level warning app:app >"$WORK/$side-$kind.log" 2>&1 &
    pid=$!
    wait_up "http://127.0.0.1:$local_port/readyz"
  else
    gunicorn --workers 2 --bind "127.0.0.1:$port" --log-level warning --graceful-timeout 10 app:app >"$WORK/$side-$kind.log" 2>&1 &
    pid=$!
  fi
  wait_up "http://127.0.0.1:$port/"
  local t0; t0=$(ticks $pid)
  wrk -t1 -c16 -d"${DURATION}s" -H "Connection: close" --latency "http://127.0.0.1:$port/" >"$WORK/wrk" 2>&1 &
  local wrk_pid=$!
  if [ "$kind" = good ]; then reloads=3; else reloads=1; fi
  local gap; gap=$(awk -v d="$DURATION" -v n="$reloads" 'BEGIN{printf "%.2f", d/(n+1)}')
  for _ in $(seq "$reloads"); do
    sleep "$gap"
    [ "$kind" = broken ] && echo broken > "$MODE_FILE"
    if [ "$side" = sidecar ]; then kill -USR2 "$pid"; else kill -HUP "$pid" 2>/dev/null || true; fi
  done
  wait $wrk_pid || true
  local t1 mem=-
  if [ -d "/proc/$pid" ]; then t1=$(ticks $pid); mem=$(rss $pid); else t1=$t0; fi
  local outcome="-"
  if [ "$side" = sidecar ]; then
    outcome=$(python3 -c 'import json,sys,urllib.request;s=json.load(urllib.request.urlopen(sys.argv[1]));print(",".join(f"{k}={v}" for k,v in s["reloads"].items() if v) or "none")' "http://127.0.0.1:$local_port/app/workers" 2>/dev/null || echo "-")
  else
    [ -d "/proc/$pid" ] && outcome=alive || outcome="exited ($(tail -1 "$WORK/$side-$kind.log" | cut -c1-60))"
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$WORK/wrk" "$side" "$kind" "$reloads" "$t0" "$t1" "$mem" "$outcome" <<'PY'
import re, sys, os
text = open(sys.argv[1]).read()
side, kind, reloads, t0, t1, mem, outcome = sys.argv[2:]
n = int(re.search(r"(\d+) requests in", text).group(1))
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = sum(map(int, sock.groups())) if sock else 0
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
tick = 1000 / os.sysconf("SC_CLK_TCK")
cpu = (int(t1) - int(t0)) * tick / int(reloads)
print(f"{side:9} {kind:7} {n:9d} {errors + non2xx:8d} {rps:9.0f} {cpu:12.0f} {mem:>9}  {outcome}")
PY
}

echo "rolling restarts under wrk -c16, a new connection per request, ${DURATION}s per scenario ($(nproc) cores)"
printf "%-9s %-7s %9s %8s %9s %12s %9s  %s\n" side release requests failed req/s "CPU/reload" "RSS MiB" "reloads / supervisor"
for kind in good broken; do
  scenario sidecar "$kind"
  scenario gunicorn "$kind"
done
