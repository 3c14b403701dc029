#!/usr/bin/env bash
# bench/registry.sh: the registry on etcd against the registry in memory, in one run.
# 1. Simulated sidecars (bench/py/registry_load.py): N registrations, then each lease renewed
#    every INTERVAL s for SECONDS: renewals per second, p50/p99 latency, CPU per renewal of the
#    registry (and of etcd), leases lost.
# 2. COUNT real sidecars started together (bench/py/converge.py): the time until every view
#    holds all of them.
# 3. The push leadership taken over (bench/py/takeover.py): the leading replica killed five
#    times, the time until a server registered at the other reaches a sidecar.
# etcd is one member of Debian's etcd-server on loopback ports of its own, with its data in a
# temporary directory (on tmpfs when /dev/shm is there: no disk flushes in the figures).
#
# Usage: [BIN=path] bench/registry.sh [N, default 5000] [SECONDS, default 30] [COUNT, default 100]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
N="${1:-5000}"; SECONDS_RUN="${2:-30}"; COUNT="${3:-100}"; INTERVAL=10
BIN="${BIN:-.build/release/cluster-sidecar}"
[ -x "$BIN" ] || make -s release >/dev/null
command -v etcd >/dev/null || { echo "etcd is not installed (Debian: apt-get install etcd-server)"; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
SECRET=bench-secret-0123456789abcdef0123456789
DIR=$(mktemp -d -p "$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT
EC=$(free_port); EP=$(free_port)
etcd --name b0 --data-dir "$DIR/etcd" --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
  --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
  --initial-cluster "b0=http://127.0.0.1:$EP" --logger zap --log-outputs "$DIR/etcd.log" > /dev/null 2>&1 &
ETCD=$!; PIDS+=("$ETCD")
wait_port "$EC"

registry() { # PORT [extra flags]: a registry with INTERVAL as its lease time
  local port=$1; shift
  REGISTRY_SECRET=$SECRET REGISTRY_CLIENT_ID=bench REGISTRY_CLIENT_SECRET=bench-client-secret LOG_LEVEL=warning \
    "$BIN" registry --port "$port" --lease-time "$INTERVAL" "$@" > "$DIR/registry-$port.log" 2>&1 &
  PIDS+=("$!"); echo "$!" > "$DIR/pid-$port"
  wait_port "$port"
}
MEM=$(free_port); ETC=$(free_port)
registry "$MEM"
registry "$ETC" --store etcd --etcd-endpoints "http://127.0.0.1:$EC" --etcd-prefix /bench/
echo "== $N simulated sidecars, a renewal each every $INTERVAL s for $SECONDS_RUN s"
echo "memory:"; python3 bench/py/registry_load.py "$MEM" "$N" "$INTERVAL" "$SECONDS_RUN" "$(cat "$DIR/pid-$MEM")"
echo "etcd (CPU: registry, etcd):"
python3 bench/py/registry_load.py "$ETC" "$N" "$INTERVAL" "$SECONDS_RUN" "$(cat "$DIR/pid-$ETC"),$ETCD"
grep -h '"level":"\(warning\|error\)"' "$DIR"/registry-*.log | head -5 || true

[ "$COUNT" -gt 0 ] || exit 0
# The simulated servers are dropped with their registries before the sidecars come.
kill "$(cat "$DIR/pid-$MEM")" "$(cat "$DIR/pid-$ETC")"; sleep 0.5
MEM=$(free_port); ETC=$(free_port)
registry "$MEM"
registry "$ETC" --store etcd --etcd-endpoints "http://127.0.0.1:$EC" --etcd-prefix /converge/
echo "== $COUNT sidecars started together"
echo "memory:"; python3 bench/py/converge.py "$BIN" "http://127.0.0.1:$MEM" "$COUNT" "$SECRET"
echo "etcd:"; python3 bench/py/converge.py "$BIN" "http://127.0.0.1:$ETC" "$COUNT" "$SECRET"
echo "== the leading replica killed (etcd)"
python3 bench/py/takeover.py 5 "$BIN" "$DIR/takeover-etcd"
