#!/usr/bin/env bash
# bench/fanout-faults.sh: fan-outs when nodes fail, the sidecar against the Node.js reference
# (bench/js/reference.js: Promise.allSettled, what @mimik/cluster users run), in one run.
#
# NODES stub nodes (bench/stub/stub.c, 5 ms answers; default 64) and, in turn:
#   - healthy: the fan-out's overhead (latency - 5 ms), p50 and p99, one caller;
#   - dead node: one node's packets dropped with nftables (a pod gone without unregistering);
#     the first fan-out waits its timeout (the body's "timeout": 1000 ms, for both servers), the
#     sidecar then ejects the node: the overhead of the fan-outs after the first, against the
#     healthy one;
#   - recovery: the rule removed while the sidecar still has the node ejected, the time until
#     a fan-out answers from every node again (the node's cluster URL is its stub, so the
#     sidecar's /readyz check reaches it; FANOUT_PROBE_INTERVAL is 2 s);
#   - quorum: one node replaced by one answering 3 s late, "quorum": NODES - 1; the reference
#     has no quorum and waits for it.
# Needs root for nftables (the table `fanout_faults` is removed on exit).
#
# Usage: [SIDECAR_BIN=path] [NODES=64] bench/fanout-faults.sh [latency samples, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
SAMPLES="${1:-200}"
N="${NODES:-64}"
command -v node >/dev/null || { echo "needs node (Node.js 18+)"; exit 1; }
command -v nft >/dev/null || { apt-get update -qq && apt-get install -y -qq nftables >/dev/null; }
ulimit -n 65536 2>/dev/null || true
./scripts/setup.sh
[ -n "${SIDECAR_BIN:-}" ] || swift build -c release --static-swift-stdlib --product cluster-sidecar >/dev/null
BIN=${SIDECAR_BIN:-.build/release/cluster-sidecar}
WORK=$(mktemp -d)
trap 'nft delete table inet fanout_faults 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
SECRET=bench-secret-0123456789abcdef0123456789
TOKEN=$(hs256_token "$SECRET")
BASE=$(free_port_block)
SLOW=$(free_port)
cc -O2 -o "$WORK/stub" bench/stub/stub.c
cc -O2 -o "$WORK/load" bench/stub/load.c -lpthread
"$WORK/stub" "$BASE" "$N" 5 > "$WORK/stubs.out" &
"$WORK/stub" "$SLOW" 1 3000 > "$WORK/slow.out" &
until grep -q ready "$WORK/stubs.out" 2>/dev/null && grep -q ready "$WORK/slow.out" 2>/dev/null; do sleep 0.05; done
BODY='{"url":"/x","timeout":1000}'
DEAD=$((BASE + 7))

SC_LOCAL=$(free_port); SC_CLUSTER=$(free_port)
LOCAL_PORT=$SC_LOCAL CLUSTER_PORT=$SC_CLUSTER CLUSTER_ADDRESS=127.0.0.1 SERVER_TYPE=bench SERVER_URL="http://127.0.0.1:$BASE" \
  JWT_SECRET=$SECRET FANOUT_CONCURRENCY=1024 LOG_LEVEL=warning "$BIN" >/dev/null 2>&1 &
SC_PID=$!
wait_port "$SC_LOCAL"; wait_port "$SC_CLUSTER"
for k in $(seq 1 $((N - 1))); do register_node "$TOKEN" "$SC_CLUSTER" "n$k" "http://127.0.0.1:$((BASE + k))"; done
nodes=$(node_urls "$BASE" "$N")
REF_PORT=$(free_port)
NODES=$nodes node bench/js/reference.js "$REF_PORT" > /dev/null &
REF_PID=$!
wait_port "$REF_PORT"

latency() { "$WORK/load" latency "$1" /cluster/fanout "$2" "$3"; }   # port body count -> JSON
field() { python3 -c "import json,sys; print('%.3f' % (json.loads(sys.argv[1])['$2'] - 5))" "$1"; }
once_ms() { # port body -> ms of one fan-out, and its failure codes
  python3 - "$1" "$2" <<'PY'
import json, sys, time, urllib.request
t = time.monotonic()
r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/cluster/fanout", sys.argv[2].encode(),
                                                  {"Content-Type": "application/json"}), timeout=30)
a = json.load(r)
codes = sorted({f["error"]["code"] for f in a.get("failures", [])})
print("%.1f %s" % ((time.monotonic() - t) * 1000, ",".join(codes) or "-"))
PY
}

sh=$(latency "$SC_LOCAL" "$BODY" "$SAMPLES"); rh=$(latency "$REF_PORT" "$BODY" "$SAMPLES")
printf '%-34s %12s %12s %12s %12s\n' "" "sidecar p50" "sidecar p99" "node p50" "node p99"
printf '%-34s %9s ms %9s ms %9s ms %9s ms\n' "healthy, $N nodes (overhead)" "$(field "$sh" p50)" "$(field "$sh" p99)" "$(field "$rh" p50)" "$(field "$rh" p99)"

drop_dead() { nft add table inet fanout_faults; nft add chain inet fanout_faults input '{ type filter hook input priority 0; }'
  nft add rule inet fanout_faults input tcp dport "$DEAD" drop; }
drop_dead
read -r s_first s_codes <<<"$(once_ms "$SC_LOCAL" "$BODY")"
sd=$(latency "$SC_LOCAL" "$BODY" "$SAMPLES")
# Recovery: the node comes back while the sidecar still has it ejected.
nft delete table inet fanout_faults
recovery=$(python3 - "$SC_LOCAL" "$BODY" <<'PY'
import json, sys, time, urllib.request
start = time.monotonic()
while True:
    r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/cluster/fanout", sys.argv[2].encode(),
                                                      {"Content-Type": "application/json"}), timeout=30)
    if not json.load(r).get("failures"):
        break
    time.sleep(0.05)
print("%.2f" % (time.monotonic() - start))
PY
)
drop_dead
read -r r_first r_codes <<<"$(once_ms "$REF_PORT" "$BODY")"
rd=$(latency "$REF_PORT" "$BODY" 5)
nft delete table inet fanout_faults
printf '%-34s %9s ms %12s %9s ms %12s   (codes: sidecar %s, node %s)\n' "dead node: the first fan-out" "$s_first" "" "$r_first" "" "$s_codes" "$r_codes"
printf '%-34s %9s ms %9s ms %9s ms %9s ms\n' "dead node: the fan-outs after it" "$(field "$sd" p50)" "$(field "$sd" p99)" "$(field "$rd" p50)" "$(field "$rd" p99)"
python3 - "$sh" "$sd" <<'PY'
import json, sys
h, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("  sidecar, dead node against healthy: p50 %.2fx, p99 %.2fx (target: within 1.5x)" % ((d["p50"] - 5) / (h["p50"] - 5), (d["p99"] - 5) / (h["p99"] - 5)))
PY
echo "recovery: every node answers again $recovery s after its packets flow (target: within two probe intervals, 4 s)"

# The last fast node leaves, a slow one joins: N nodes, one of them 3 s late.
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$SC_CLUSTER/servers/n$((N - 1))"
register_node "$TOKEN" "$SC_CLUSTER" slow "http://127.0.0.1:$SLOW"
kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
NODES="${nodes%,*},http://127.0.0.1:$SLOW" node bench/js/reference.js "$REF_PORT" > /dev/null &
REF_PID=$!
wait_port "$REF_PORT"
QBODY="{\"url\":\"/x\",\"quorum\":$((N - 1)),\"timeout\":5000}"
# The reference first: the stub answers by descriptor, and the sidecar's cancelled requests
# would leave it answers due on descriptors the reference's connections may reuse.
read -r r_quorum r_qcodes <<<"$(once_ms "$REF_PORT" "$QBODY")"
sq=$(latency "$SC_LOCAL" "$QBODY" "$SAMPLES")
read -r s_quorum s_qcodes <<<"$(once_ms "$SC_LOCAL" "$QBODY")"
printf '%-34s %9s ms %9s ms %9s ms %12s   (codes: sidecar %s, node %s; one call each)\n' "quorum $((N - 1)) of $N, one 3 s late" "$(field "$sq" p50)" "$(field "$sq" p99)" "$r_quorum" "" "$s_qcodes" "$r_qcodes"
python3 - "$sh" "$sq" <<'PY'
import json, sys
h, q = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("  sidecar, quorum against healthy: p50 +%.2f ms, p99 +%.2f ms (target: within +5 ms)" % (q["p50"] - h["p50"], q["p99"] - h["p99"]))
PY
echo "(overhead = latency - the nodes' 5 ms; the reference ignores quorum and waits for the late node)"
