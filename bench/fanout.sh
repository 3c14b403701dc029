#!/usr/bin/env bash
# bench/fanout.sh: fan-out latency overhead and throughput, sidecar against a Node.js reference.
#
# Stub nodes answer a small JSON after a fixed 5 ms: bench/stub/stub.c (one C thread on epoll
# with nanosecond timeouts, compiled here with cc), so the stubs' own cost stays out of both
# servers' figures. STUBS=node uses bench/js/stubs.js (setTimeout in one Node process, whose
# serving adds ~1-2 ms at 64 nodes); STUBS=swift uses `sidecar-bench stubs` (Task.sleep). For 16, 64 and 256
# nodes it measures, through the same load driver (bench/stub/load.c: C, blocking keep-alive
# sockets, so that the driver's own cost stays out of the figures; DRIVER=node uses
# bench/js/driver.js, the driver of the figures before 2026-11-23's second session):
#   - overhead: fan-out latency minus 5 ms, p50 and p99, one caller, sequential requests;
#   - fan-outs per second with 8 concurrent callers, and the server's CPU per fan-out;
# for the sidecar (POST /cluster/fanout; FANOUT_CONCURRENCY = nodes, so no wave waits) and for
# bench/js/reference.js (Promise.allSettled over http.request with a keep-alive agent, same
# answer shape; CLIENT=fetch for fetch). In the same run, nginx's CPU per request for a GET of
# the same small JSON, through the same driver: the floor a node request's cost is shown against
# (CPU per fan-out / nodes, as a ratio to nginx's). Then a one-node fan-out against calling that
# node directly (the added p99).
# The stubs stamp a request's arrival with the kernel's receive time (SO_TIMESTAMPNS), so a stub
# kept off the CPU while the server sends does not count as the server's overhead.
#
# Then 64 nodes by IP address and by host name (from a hosts file of the run's own), CPU per
# fan-out side by side, and the reference by name. Dead nodes, recovery and quorum:
# bench/fanout-faults.sh.
#
# Usage: [SIDECAR_BIN=path] bench/fanout.sh [latency samples, default 400] [throughput seconds, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
SAMPLES="${1:-400}"
SECONDS_T="${2:-5}"
command -v node >/dev/null || { echo "needs node (Node.js 18+)"; exit 1; }
dpkg -s nginx-light >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
ulimit -n 65536 2>/dev/null || true
./scripts/setup.sh
# SIDECAR_BIN measures another build (e.g. the one before a change) instead of this one's.
[ -n "${SIDECAR_BIN:-}" ] || swift build -c release --static-swift-stdlib --product cluster-sidecar >/dev/null
swift build -c release --static-swift-stdlib --product sidecar-bench >/dev/null
BIN=${SIDECAR_BIN:-.build/release/cluster-sidecar}
JS=bench/js
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
SECRET=bench-secret-0123456789abcdef0123456789
TOKEN=$(hs256_token "$SECRET")
BASE=$(free_port_block)
case "${STUBS:-c}" in
  swift) .build/release/sidecar-bench stubs "$BASE" 256 5 > "$WORK/stubs.out" & ;;
  node) node $JS/stubs.js "$BASE" 256 5 > "$WORK/stubs.out" & ;;
  *) cc -O2 -o "$WORK/stub" bench/stub/stub.c
     "$WORK/stub" "$BASE" 256 5 > "$WORK/stubs.out" & ;;
esac
cc -O2 -o "$WORK/load" bench/stub/load.c -lpthread
drive() { # latency|throughput port path body count|callers [seconds]
  if [ "${DRIVER:-c}" = node ]; then
    node $JS/driver.js "$1" "http://127.0.0.1:$2$3" "${@:4}"
  else
    "$WORK/load" "$@"
  fi
}
until grep -q ready "$WORK/stubs.out" 2>/dev/null; do sleep 0.05; done
BODY='{"url":"/x"}'

# Named nodes: a hosts file of this run's own (node-K.bench -> 127.0.0.1), bind-mounted over
# /etc/hosts in a private mount namespace for the servers only (root; unshare from util-linux).
HOSTS="$WORK/hosts"
{ echo "127.0.0.1 localhost"; for k in $(seq 0 255); do echo "127.0.0.1 node-$k.bench"; done; } > "$HOSTS"
host_of() { if [ "${NAMED:-0}" = 1 ]; then echo "node-$1.bench"; else echo 127.0.0.1; fi; }
# Runs in the background job it is started as (exec: `$!` is the server's own pid).
maybe_hosts() {
  if [ "${NAMED:-0}" = 1 ]; then exec unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$HOSTS" "$@"; else exec "$@"; fi
}

start_sidecar() { # nodes [first port] -> sets SC_PID SC_LOCAL (NAMED=1: nodes by host name; DEFAULTS=1: no FANOUT_CONCURRENCY)
  local n=$1 first=${2:-$BASE} cluster conc
  conc=$([ "${DEFAULTS:-0}" = 1 ] || echo "$n")
  SC_LOCAL=$(free_port); cluster=$(free_port)
  if [ -n "$conc" ]; then export FANOUT_CONCURRENCY=$conc; else unset FANOUT_CONCURRENCY; fi
  LOCAL_PORT=$SC_LOCAL CLUSTER_PORT=$cluster CLUSTER_ADDRESS=127.0.0.1 SERVER_TYPE=bench SERVER_URL="http://$(host_of 0):$first" \
    JWT_SECRET=$SECRET LOG_LEVEL=warning maybe_hosts "$BIN" >/dev/null 2>&1 &
  SC_PID=$!
  wait_port "$SC_LOCAL"; wait_port "$cluster"
  for k in $(seq 1 $((n - 1))); do
    register_node "$TOKEN" "$cluster" "n$k" "http://$(host_of "$k"):$((first + k))" http://127.0.0.1:1
  done
}
start_reference() { # nodes [first port] -> sets REF_PID REF_PORT (NAMED=1: nodes by host name)
  local n=$1 first=${2:-$BASE} nodes=""
  for k in $(seq 0 $((n - 1))); do nodes="$nodes${nodes:+,}http://$(host_of "$k"):$((first + k))"; done
  REF_PORT=$(free_port)
  NODES=$nodes maybe_hosts node $JS/reference.js "$REF_PORT" > /dev/null &
  REF_PID=$!
  wait_port "$REF_PORT"
}
measure() { # pid port -> "p50-5 p99-5 per_second cpu_us_per_fanout errors"
  local pid=$1 port=$2 lat thr a b
  lat=$(drive latency "$port" /cluster/fanout "$BODY" "$SAMPLES")
  a=$(ticks "$pid")
  thr=$(drive throughput "$port" /cluster/fanout "$BODY" 8 "$SECONDS_T")
  b=$(ticks "$pid")
  python3 - "$lat" "$thr" "$((b - a))" "$HZ" "$SECONDS_T" <<'PY'
import json, sys
lat, thr = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ticks, hz, secs = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
n = thr["perSecond"] * secs
print(f'{lat["p50"] - 5:.3f} {lat["p99"] - 5:.3f} {thr["perSecond"]:.0f} {ticks / hz * 1e6 / max(n, 1):.0f} {thr["errors"]}')
PY
}

# The floor: nginx (one worker, as the sidecar has one loop per core but answers one fan-out on
# one loop) serving the stubs' answer; its CPU per request through the same driver.
NG_PORT=$(free_port)
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NG_PORT;
    location = /x { default_type application/json; return 200 '{"node":0}'; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"
wait_port "$NG_PORT"
NG_PID=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
a=$(ticks "$NG_PID")
ng=$(drive throughput "$NG_PORT" /x - 8 "$SECONDS_T")
b=$(ticks "$NG_PID")
NG_US=$(python3 - "$ng" "$((b - a))" "$HZ" "$SECONDS_T" <<'PY'
import json, sys
thr = json.loads(sys.argv[1]); ticks, hz, secs = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print("%.2f" % (ticks / hz * 1e6 / max(thr["perSecond"] * secs, 1)))
PY
)
kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"
echo "nginx floor: $NG_US us CPU per request ($(echo "$ng" | python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["perSecond"])') req/s, 8 callers)"

printf '\n%-6s %-9s %14s %14s %12s %16s %7s\n' nodes server "overhead p50" "overhead p99" "fan-outs/s" "CPU us/fan-out" errors
for n in 16 64 256; do
  start_sidecar "$n"
  read -r sp50 sp99 srate scpu serr <<<"$(measure "$SC_PID" "$SC_LOCAL")"
  kill "$SC_PID"; wait "$SC_PID" 2>/dev/null || true
  start_reference "$n"
  read -r rp50 rp99 rrate rcpu rerr <<<"$(measure "$REF_PID" "$REF_PORT")"
  kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
  printf '%-6s %-9s %11s ms %11s ms %12s %16s %7s\n' "$n" sidecar "$sp50" "$sp99" "$srate" "$scpu" "$serr"
  printf '%-6s %-9s %11s ms %11s ms %12s %16s %7s\n' "$n" node "$rp50" "$rp99" "$rrate" "$rcpu" "$rerr"
  awk -v a="$srate" -v b="$rrate" -v c="$scpu" -v d="$rcpu" -v n="$n" -v p="$sp50" -v q="$rp50" -v r="$sp99" -v s="$rp99" \
    'BEGIN{printf "%-6s %-9s %13.2fx %13.2fx %11.2fx %15.2fx\n", n, "ratio", p/q, r/s, a/b, c/d}'
  awk -v c="$scpu" -v d="$rcpu" -v n="$n" -v f="$NG_US" \
    'BEGIN{printf "%-6s per node request: sidecar %.1f us (%.2fx nginx), node %.1f us (%.2fx nginx); nginx %.2f us per request\n", n, c/n, c/n/f, d/n, d/n/f, f}'
done

# Named nodes: the same 64 stubs by IP address and by host name, one after the other.
printf '\n%-22s %14s %14s %12s %16s %7s\n' "64 nodes" "overhead p50" "overhead p99" "fan-outs/s" "CPU us/fan-out" errors
for named in 0 1; do
  NAMED=$named start_sidecar 64
  read -r sp50 sp99 srate scpu serr <<<"$(measure "$SC_PID" "$SC_LOCAL")"
  kill "$SC_PID"; wait "$SC_PID" 2>/dev/null || true
  label=$([ "$named" = 1 ] && echo "sidecar, by name" || echo "sidecar, by address")
  printf '%-22s %11s ms %11s ms %12s %16s %7s\n' "$label" "$sp50" "$sp99" "$srate" "$scpu" "$serr"
  [ "$named" = 1 ] && named_cpu=$scpu || ip_cpu=$scpu
done
NAMED=1 start_reference 64
read -r rp50 rp99 rrate rcpu rerr <<<"$(measure "$REF_PID" "$REF_PORT")"
kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
printf '%-22s %11s ms %11s ms %12s %16s %7s\n' "node, by name" "$rp50" "$rp99" "$rrate" "$rcpu" "$rerr"
awk -v a="$named_cpu" -v b="$ip_cpu" -v c="$rcpu" \
  'BEGIN{printf "CPU per fan-out by name: %.2fx by address (target: within 1.15x); %.2fx the reference by name\n", a/b, a/c}'

# Growth: 1,024 nodes (C stubs) with the default FANOUT_CONCURRENCY, one caller: overhead,
# CPU per node request (over the latency run) and the peak RSS, against the reference.
if [ "${STUBS:-c}" = c ] && [ "${GROWTH:-1}" = 1 ]; then
  BIG=$(free_port_block 1024)
  "$WORK/stub" "$BIG" 1024 5 > "$WORK/big.out" 2>&1 &
  BIG_PID=$!
  until grep -q ready "$WORK/big.out" 2>/dev/null; do
    kill -0 "$BIG_PID" 2>/dev/null || { echo "the 1,024 stubs did not start at $BIG: $(cat "$WORK/big.out")"; exit 1; }
    sleep 0.05
  done
  big() { # pid port samples nodes -> "p50-5 p99-5 cpu_us_per_node_request answer_bytes"
    local pid=$1 port=$2 n=$3 nodes=$4 lat a b size
    size=$(curl -s -X POST -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$port/cluster/fanout" | wc -c)
    a=$(ticks "$pid"); lat=$(drive latency "$port" /cluster/fanout "$BODY" "$n"); b=$(ticks "$pid")
    python3 -c 'import json,sys; l=json.loads(sys.argv[1]); print("%.3f %.3f %.1f %s" % (l["p50"]-5, l["p99"]-5, (int(sys.argv[2])/int(sys.argv[3]))*1e6/int(sys.argv[4])/int(sys.argv[6]), sys.argv[5]))' \
      "$lat" "$((b - a))" "$HZ" "$n" "$size" "$nodes"
  }
  DEFAULTS=1 start_sidecar 64
  read -r _ _ scpu64 _ <<<"$(big "$SC_PID" "$SC_LOCAL" 400 64)"
  kill "$SC_PID"; wait "$SC_PID" 2>/dev/null || true
  DEFAULTS=1 start_sidecar 1024 "$BIG"
  read -r gp50 gp99 gcpu gsize <<<"$(big "$SC_PID" "$SC_LOCAL" 100 1024)"
  grss=$(awk '/VmHWM/ {print $2}' "/proc/$SC_PID/status")
  kill "$SC_PID"; wait "$SC_PID" 2>/dev/null || true
  start_reference 1024 "$BIG"
  read -r hp50 hp99 hcpu _ <<<"$(big "$REF_PID" "$REF_PORT" 30 1024)"
  hrss=$(awk '/VmHWM/ {print $2}' "/proc/$REF_PID/status")
  kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
  printf '\n1,024 nodes, default settings: overhead p50 sidecar %s ms, node %s ms (%s); p99 %s / %s ms\n' "$gp50" "$hp50" \
    "$(awk -v a="$gp50" -v b="$hp50" 'BEGIN{printf "%.2fx, target at most 0.3x", a/b}')" "$gp99" "$hp99"
  printf '  CPU per node request, one caller: sidecar %s us (%s at 64 nodes: %s, target at most 1.2x), node %s us\n' \
    "$gcpu" "$scpu64" "$(awk -v a="$gcpu" -v b="$scpu64" 'BEGIN{printf "%.2fx", a/b}')" "$hcpu"
  printf '  peak RSS: sidecar %s KiB, node %s KiB; one answer %s bytes\n' "$grss" "$hrss" "$gsize"
fi

# One node: fan-out against calling the node directly.
start_sidecar 1
direct=$(drive latency "$BASE" /x - "$SAMPLES")
fan=$(drive latency "$SC_LOCAL" /cluster/fanout "$BODY" "$SAMPLES")
python3 - "$direct" "$fan" <<'PY'
import json, sys
d, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f'\none node: direct p50 {d["p50"]:.3f} ms p99 {d["p99"]:.3f} ms; through the sidecar p50 {f["p50"]:.3f} ms p99 {f["p99"]:.3f} ms;'
      f' added p50 {f["p50"] - d["p50"]:.3f} ms, p99 {f["p99"] - d["p99"]:.3f} ms')
PY
echo "(overhead = latency - the nodes' 5 ms; ratios are sidecar / node: above 1 is better for fan-outs/s, below 1 for CPU)"
