#!/usr/bin/env bash
# bench/instructions.sh: user-space instructions per GET /healthz, counted by callgrind, for one
# or more builds side by side. Instruction counts repeat exactly for the same binary and load,
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
set -euo pipefail
cd "$(dirname "$0")/.."
N1="${N1:-2000}"
N2="${N2:-12000}"
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

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
instructions() { # binary requests -> total Ir of the process
  local bin=$1 n=$2 port out pid
  port=$(free_port)
  out="$WORK/cg.$n.out"
  LOCAL_PORT=$port CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning WORKERS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  python3 "$WORK/client.py" "$port" "$n"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  awk '/^(summary|totals):/{print $2; exit}' "$out"
}

printf '%-60s %14s\n' binary "Ir/request"
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
