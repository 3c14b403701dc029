#!/usr/bin/env bash
# bench/fanout-stream.sh: streamed fan-outs (Accept: application/x-ndjson) against the Node.js
# reference (bench/js/reference.js: Promise.allSettled, which answers once every node has), in
# one run.
#   - first line: NODES nodes (default 64), one answering in 5 ms (the stub logs when it wrote
#     each answer), the others in 200 ms. How long after the fast node's answer left it the
#     caller holds that node's line (target: within 2 ms), and the caller's time to its first
#     line against the reference's time to its answer, and the sidecar's unstreamed one.
#   - slow reader: NODES nodes answering 256 kB each, the answer read at 4 MB/s by curl: the
#     server's peak RSS above its RSS before, streamed against unstreamed and the reference,
#     and streamed with FANOUT_CONCURRENCY=8 (what a streamed fan-out holds is its lines not yet
#     sent, at most 256 KiB before it stops sending to nodes, plus the answers in flight).
#
# Usage: [SIDECAR_BIN=path] [NODES=64] bench/fanout-stream.sh [first-line samples, default 100]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
SAMPLES="${1:-100}"
N="${NODES:-64}"
command -v node >/dev/null || { echo "needs node (Node.js 18+)"; exit 1; }
ulimit -n 65536 2>/dev/null || true
./scripts/setup.sh
[ -n "${SIDECAR_BIN:-}" ] || swift build -c release --static-swift-stdlib --product cluster-sidecar >/dev/null
BIN=${SIDECAR_BIN:-.build/release/cluster-sidecar}
WORK=$(mktemp -d)
# Servers are started in command substitutions (not this shell's jobs): their pids are kept here.
trap 'kill $(jobs -p) $(cat "$WORK/pids" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
SECRET=bench-secret-0123456789abcdef0123456789
TOKEN=$(hs256_token "$SECRET")
cc -O2 -o "$WORK/stub" bench/stub/stub.c
cc -O2 -o "$WORK/load" bench/stub/load.c -lpthread
FAST=$(free_port)
SLOW=$(free_port_block "$N")
BIG=$(free_port_block $((2 * N + 44)))
BIG=$((BIG + N + 44))
"$WORK/stub" "$FAST" 1 5 log > "$WORK/fast.out" &
"$WORK/stub" "$SLOW" $((N - 1)) 200 > "$WORK/slow.out" &
STUB_BODY_BYTES=262144 "$WORK/stub" "$BIG" "$N" 5 > "$WORK/big.out" &
until grep -q ready "$WORK/fast.out" 2>/dev/null && grep -q ready "$WORK/slow.out" 2>/dev/null \
  && grep -q ready "$WORK/big.out" 2>/dev/null; do sleep 0.05; done

sidecar() { # self-url first-node-port count [VAR=value ...] -> "pid local-port"
  local lp cp
  lp=$(free_port); cp=$(free_port)
  env "${@:4}" LOCAL_PORT=$lp CLUSTER_PORT=$cp CLUSTER_ADDRESS=127.0.0.1 SERVER_TYPE=bench SERVER_URL="$1" \
    JWT_SECRET=$SECRET LOG_LEVEL=warning "$BIN" >/dev/null 2>&1 &
  local pid=$!
  echo "$pid" >> "$WORK/pids"
  wait_port "$lp"; wait_port "$cp"
  for k in $(seq 0 $(($3 - 1))); do register_node "$TOKEN" "$cp" "n$k" "http://127.0.0.1:$(($2 + k))"; done
  echo "$pid $lp"
}
reference() { # nodes -> "pid port"
  local port
  port=$(free_port)
  NODES=$1 node bench/js/reference.js "$port" > /dev/null 2>&1 &
  local pid=$!
  echo "$pid" >> "$WORK/pids"
  wait_port "$port"
  echo "$pid $port"
}

# First line. The sidecar's self is the fast node; the slow ones are registered.
read -r SC_PID SC_LOCAL <<<"$(sidecar "http://127.0.0.1:$FAST" "$SLOW" $((N - 1)))"
read -r REF_PID REF_PORT <<<"$(reference "http://127.0.0.1:$FAST,$(node_urls "$SLOW" $((N - 1)))")"
BODY='{"url":"/x"}'
WARM=5
"$WORK/load" stream "$SC_LOCAL" /cluster/fanout "$BODY" $((SAMPLES + WARM)) > "$WORK/calls.out"
sleep 0.3  # the stub's last line
ref=$("$WORK/load" latency "$REF_PORT" /cluster/fanout "$BODY" 20)
plain=$("$WORK/load" latency "$SC_LOCAL" /cluster/fanout "$BODY" 20)
python3 - "$WORK/calls.out" "$WORK/fast.out" "$WARM" "$ref" "$plain" "$N" <<'PY'
import json, sys
calls = [list(map(int, l.split())) for l in open(sys.argv[1])]
writes = [int(l) for l in open(sys.argv[2]) if l.strip().isdigit()]
warm, ref, plain, n = int(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6])
assert len(writes) >= len(calls), (len(writes), len(calls))
after = sorted((c[1] - w) / 1e6 for c, w in list(zip(calls, writes))[warm:])
first = sorted((c[1] - c[0]) / 1e6 for c in calls[warm:])
lines = {c[3] for c in calls}
pick = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))]
print(f"first line, {n} nodes (one answers in 5 ms, the rest in 200 ms), {len(after)} calls; lines per call {sorted(lines)}")
print("  the fast node's line reaches the caller %.3f ms (p50), %.3f ms (p99), %.3f ms (max) after the node wrote its answer"
      " (target: within 2 ms)" % (pick(after, .5), pick(after, .99), after[-1]))
print("  time to the first line: sidecar streamed p50 %.2f ms; to the whole answer: sidecar unstreamed p50 %.2f ms,"
      " reference p50 %.2f ms: %.3fx the reference" % (pick(first, .5), plain["p50"], ref["p50"], pick(first, .5) / ref["p50"]))
PY
kill "$SC_PID" "$REF_PID"; wait "$SC_PID" "$REF_PID" 2>/dev/null || true

# Slow reader: every node answers 256 kB; curl reads at 4 MB/s.
peak_rss() { # pid accept -> "peak-above-start-MB seconds lines"
  local url=$3
  python3 - "$1" "$2" "$url" <<'PY'
import subprocess, sys, threading, time
pid, accept, url = sys.argv[1], sys.argv[2], sys.argv[3]
rss = lambda: int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1]) / 1024
base, peak, done = rss(), 0.0, False
def sample():
    global peak
    while not done:
        peak = max(peak, rss())
        time.sleep(0.005)
t = threading.Thread(target=sample); t.start()
start = time.monotonic()
out = subprocess.run(["curl", "-s", "-N", "--limit-rate", "4M", "-H", f"Accept: {accept}", "-H", "Content-Type: application/json",
                      "-d", '{"url":"/x"}', url], capture_output=True).stdout
took = time.monotonic() - start
done = True; t.join()
print("%.1f %.1f %d" % (peak - base, took, len(out)))
PY
}
read -r SC_PID SC_LOCAL <<<"$(sidecar "http://127.0.0.1:$BIG" $((BIG + 1)) $((N - 1)))"
read -r REF_PID REF_PORT <<<"$(reference "$(node_urls "$BIG" "$N")")"
# One call each first, so that every server has its connections and buffers before the count.
for p in "$SC_LOCAL" "$REF_PORT"; do curl -s -o /dev/null -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$p/cluster/fanout"; done
read -r s_peak s_took s_len <<<"$(peak_rss "$SC_PID" application/x-ndjson "http://127.0.0.1:$SC_LOCAL/cluster/fanout")"
read -r u_peak u_took u_len <<<"$(peak_rss "$SC_PID" application/json "http://127.0.0.1:$SC_LOCAL/cluster/fanout")"
read -r r_peak r_took r_len <<<"$(peak_rss "$REF_PID" application/json "http://127.0.0.1:$REF_PORT/cluster/fanout")"
kill "$SC_PID"; wait "$SC_PID" 2>/dev/null || true
read -r SC_PID SC_LOCAL <<<"$(sidecar "http://127.0.0.1:$BIG" $((BIG + 1)) $((N - 1)) FANOUT_CONCURRENCY=8)"
curl -s -o /dev/null -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$SC_LOCAL/cluster/fanout"
read -r c_peak c_took c_len <<<"$(peak_rss "$SC_PID" application/x-ndjson "http://127.0.0.1:$SC_LOCAL/cluster/fanout")"
printf 'slow reader, %s nodes of 256 kB, read at 4 MB/s: peak RSS above the start\n' "$N"
printf '  sidecar streamed %6s MB (%s bytes in %s s)\n' "$s_peak" "$s_len" "$s_took"
printf '  sidecar unstreamed %4s MB (%s bytes in %s s)\n' "$u_peak" "$u_len" "$u_took"
printf '  reference %11s MB (%s bytes in %s s)\n' "$r_peak" "$r_len" "$r_took"
printf '  sidecar streamed, FANOUT_CONCURRENCY=8 %s MB (%s bytes in %s s)\n' "$c_peak" "$c_len" "$c_took"
python3 -c "import sys; s,u,r=map(float,sys.argv[1:]); print('  streamed against unstreamed %.2fx, against the reference %.2fx' % (s/max(u,0.1), s/max(r,0.1)))" "$s_peak" "$u_peak" "$r_peak"
