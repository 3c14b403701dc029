#!/usr/bin/env bash
# bench/instructions.sh: user-space instructions per GET /healthz (or, with FANOUT=64, per
# 64-node POST /cluster/fanout to bench/stub/stub.c nodes), counted by callgrind, for one or
# more builds side by side. Instruction counts repeat exactly for the same binary and load,
# whatever else the machine does, so they show a hot-path change that req/s on two shared
# cores (±20 %) cannot. Kernel work (about three quarters of a request's CPU) is not counted.
#
# Each binary serves one event loop under valgrind; a Python client sends N1, then (another
# run) N2 keep-alive requests pipelined 50 at a time; (Ir(N2) - Ir(N1)) / (N2 - N1) removes
# start-up and shutdown. valgrind cannot read the toolchain's DWARF, so a copy without debug
# sections is run.
#
# Usage: bench/instructions.sh [BINARY...]   (default: this checkout's release build)
#        N1=2000 N2=12000 bench/instructions.sh before/cluster-sidecar .build/release/cluster-sidecar
#        FANOUT=64 bench/instructions.sh before/cluster-sidecar .build/release/cluster-sidecar
#        KEEP=/tmp/profiles FANOUT=64 bench/instructions.sh   (keeps the profiles for callgrind_annotate)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
FANOUT="${FANOUT:-0}"
if [ "$FANOUT" -gt 0 ]; then N1="${N1:-20}"; N2="${N2:-120}"; else N1="${N1:-2000}"; N2="${N2:-12000}"; fi
SECRET=bench-secret-0123456789abcdef0123456789
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
if [ "$#" -eq 0 ]; then
  make -s release >/dev/null
  set -- .build/release/cluster-sidecar
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/client.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"
done = 0
while done < n:
    batch = min(50, n - done)
    s.sendall(req * batch)
    buf = b""
    while buf.count(b'{"status":"ok"}') < batch:
        buf += s.recv(65536)
    done += batch
s.close()
PY
cat > "$WORK/fanout.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
body = b'{"url":"/x"}'
req = b"POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
for _ in range(n):
    s.sendall(req)
    buf = b""
    while True:
        buf += s.recv(1 << 20)
        h = buf.find(b"\r\n\r\n")
        if h < 0: continue
        length = [l for l in buf[:h].split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1]
        if len(buf) >= h + 4 + int(length): break
    assert b'"failures":[]' in buf, "a node failed"
PY
if [ "$FANOUT" -gt 0 ]; then
  TOKEN=$(hs256_token "$SECRET")
  BASE=$(free_port_block)
  cc -O2 -o "$WORK/stub" bench/stub/stub.c
  "$WORK/stub" "$BASE" "$FANOUT" 0 > "$WORK/stubs.out" &
  until grep -q ready "$WORK/stubs.out" 2>/dev/null; do sleep 0.05; done
fi

instructions() { # binary requests -> total Ir of the process
  local bin=$1 n=$2 port out pid
  port=$(free_port)
  out="$WORK/cg.$n.out"
  cluster=$(free_port)
  LOCAL_PORT=$port CLUSTER_PORT=$cluster CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning WORKERS=1 JWT_SECRET=$SECRET \
    SERVER_TYPE=bench SERVER_URL="http://127.0.0.1:${BASE:-9}" FANOUT_CONCURRENCY=$((FANOUT > 0 ? FANOUT : 64)) \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>&1 &
  pid=$!
  for p in $port $cluster; do
    for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
  done
  # The start-up trim runs 3 s in, and its end costs one-off work (about 20 M instructions of
  # protocol-conformance scans): let it pass before counting, so that it lands in both runs
  # and not in the longer one only (it read as 1,600 instructions per request).
  sleep 5
  if [ "$FANOUT" -gt 0 ]; then
    for k in $(seq 1 $((FANOUT - 1))); do
      register_node "$TOKEN" "$cluster" "n$k" "http://127.0.0.1:$((BASE + k))" http://127.0.0.1:1
    done
    python3 "$WORK/fanout.py" "$port" "$n"
  else
    python3 "$WORK/client.py" "$port" "$n"
  fi
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  # KEEP=dir keeps each callgrind profile (for callgrind_annotate) in dir.
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$out" "$KEEP/$(basename "$bin").$n.callgrind"; fi
  awk '/^(summary|totals):/{print $2; exit}' "$out"
}

printf '%-60s %14s\n' binary "$([ "$FANOUT" -gt 0 ] && echo "Ir/fan-out" || echo "Ir/request")"
first=""
for bin in "$@"; do
  copy="$WORK/$(echo "$bin" | tr '/' '_')"
  strip --strip-debug -o "$copy" "$bin"
  a=$(instructions "$copy" "$N1")
  b=$(instructions "$copy" "$N2")
  per=$(( (b - a) / (N2 - N1) ))
  [ -n "$first" ] || first=$per
  printf '%-60s %14s  %5.2fx\n' "$bin" "$per" "$(awk -v p="$per" -v f="$first" 'BEGIN{print p/f}')"
done
