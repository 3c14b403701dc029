#!/usr/bin/env bash
# bench/supervisor-soak.sh: `cluster-sidecar run` under faults, watching the sidecar for leaks.
#
# The demo's echo application, two workers, notify readiness, under wrk opening a new
# connection per request throughout. Phase 1: CYCLES rolling restarts back to back, nothing
# else: no request may fail. Phase 2: CYCLES rounds of a rolling restart then `kill -9` of a
# ready worker (some restarts thus start while a worker waits for its respawn): the requests
# in flight on a killed worker fail, so failures are counted, not refused. Fails (exit 1) when
# a reload does not succeed, a phase-1 request fails, the sidecar dies, its open descriptors
# grow, a zombie is left, or both workers are not ready at the end; then SIGTERM must exit 0.
#
# Usage: [BIN=path] [APP_COMMAND="python3 worker.py"] bench/supervisor-soak.sh [CYCLES, default 30]
# (APP_COMMAND: another worker program taking fd 3 and saying READY=1; default the echo app)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
CYCLES="${1:-30}"
BIN="${BIN:-.build/release/cluster-sidecar}"
[ -x "$BIN" ] || make -s release >/dev/null
dpkg -s wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
LOCAL=$(free_port); APP=$(free_port)
LOCAL_PORT=$LOCAL CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 APP_WORKERS=2 APP_ADDRESS=127.0.0.1 APP_PORT=$APP APP_READY=notify \
  APP_STOP_TIMEOUT=10 "$BIN" run -- ${APP_COMMAND:-"$BIN" echo} > "$WORK/sidecar.log" 2>&1 &
SPID=$!
up() { python3 -c 'import sys,urllib.request;urllib.request.urlopen(sys.argv[1],timeout=2)' "$1" 2>/dev/null; }
for _ in $(seq 200); do up "http://127.0.0.1:$LOCAL/readyz" && break; sleep 0.05; done
workers() { python3 -c 'import json,sys,urllib.request;print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1],timeout=2))))' "http://127.0.0.1:$LOCAL/app/workers"; }
fds() { ls "/proc/$SPID/fd" | wc -l; }
FAIL=0
verdict() { echo "supervisor-soak: $*"; FAIL=1; }
FDS0=$(fds)

# wrk for as long as a phase takes: started per phase, stopped after it.
load() { wrk -t1 -c16 -d600s -H "Connection: close" "http://127.0.0.1:$APP/hello/soak" > "$WORK/wrk-$1" 2>&1 & WRK=$!; sleep 0.5; }
unload() { sleep 0.5; kill -INT "$WRK"; wait "$WRK" || true; }
failed() { python3 - "$WORK/wrk-$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
n = int(re.search(r"(\d+) requests in", t).group(1))
s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
bad = (sum(map(int, s.groups())) if s else 0) + (int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", t)) else 0)
print(n, bad)
PY
}

load 1
T0=$EPOCHREALTIME
for i in $(seq "$CYCLES"); do
  "$BIN" reload --local-port "$LOCAL" --wait 40 > "$WORK/reload" 2>&1 || { verdict "phase 1 reload $i: $(tail -1 "$WORK/reload")"; break; }
done
T1=$EPOCHREALTIME
unload
read -r N1 BAD1 < <(failed 1)
echo "supervisor-soak: phase 1: $CYCLES rolling restarts in $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}') s under load: $N1 requests, $BAD1 failed"
[ "$BAD1" = 0 ] || verdict "phase 1: $BAD1 requests failed ($(grep -E "Socket errors|Non-2xx" "$WORK/wrk-1" | tr -s ' ' | tr '\n' ';'))"

load 2
for i in $(seq "$CYCLES"); do
  "$BIN" reload --local-port "$LOCAL" --wait 40 > "$WORK/reload" 2>&1 || { verdict "phase 2 reload $i: $(tail -1 "$WORK/reload")"; break; }
  PID=$(workers | python3 -c 'import json,sys;print(next((w["pid"] for w in json.load(sys.stdin)["workers"] if w["state"]=="ready"), ""))')
  [ -n "$PID" ] && kill -9 "$PID"
  sleep 0.3
done
unload
read -r N2 BAD2 < <(failed 2)
echo "supervisor-soak: phase 2: $CYCLES rolling restarts each followed by a kill -9: $N2 requests, $BAD2 failed (in flight on the killed workers)"

kill -0 "$SPID" 2>/dev/null || { verdict "the sidecar died: $(tail -3 "$WORK/sidecar.log")"; exit 1; }
for _ in $(seq 400); do
  [ "$(workers | python3 -c 'import json,sys;print(sum(w["state"]=="ready" for w in json.load(sys.stdin)["workers"]))')" = 2 ] && break
  sleep 0.05
done
STATUS=$(workers)
READY=$(python3 -c 'import json,sys;print(sum(w["state"]=="ready" for w in json.load(sys.stdin)["workers"]))' <<<"$STATUS")
SUMMARY=$(python3 -c 'import json,sys;s=json.load(sys.stdin);print("generation", s["generation"], "reloads", s["reloads"], "restarts", s["restarts"])' <<<"$STATUS")
FDS1=$(fds)
ZOMBIES=$(ps -eo stat=,ppid= | awk -v p="$SPID" '$2==p && $1 ~ /Z/' | wc -l)
RSS=$(awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$SPID/status")
echo "supervisor-soak: $SUMMARY; ready workers $READY; descriptors $FDS0 -> $FDS1; zombies $ZOMBIES; RSS $RSS MiB"
[ "$READY" = 2 ] || verdict "$READY workers ready at the end, not 2"
[ "$FDS1" -le "$FDS0" ] || verdict "descriptors grew from $FDS0 to $FDS1"
[ "$ZOMBIES" = 0 ] || verdict "$ZOMBIES zombies"
kill -TERM "$SPID"
CODE=0; wait "$SPID" || CODE=$?
[ "$CODE" = 0 ] || verdict "SIGTERM exited $CODE"
if [ "$FAIL" = 0 ]; then echo "supervisor-soak: PASS"; else echo "supervisor-soak: FAIL"; exit 1; fi
