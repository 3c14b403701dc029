#!/usr/bin/env bash
# bench/client.sh: 1,000 concurrent GETs through our libcurl multi client against a local
# server, side by side with `curl --parallel` doing the same work, in one run.
#
# Prints, for each: wall time, errors, and connections opened (libcurl's CURLINFO_NUM_CONNECTS
# summed over the transfers). The server is the sidecar's own GET /healthz (release build).
#
# Usage: bench/client.sh [requests, default 1000] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
ROUNDS="${2:-3}"
ulimit -n 65536 2>/dev/null || true
./scripts/setup.sh
swift build -c release --static-swift-stdlib --product cluster-sidecar >/dev/null
swift build -c release --static-swift-stdlib --product sidecar-bench >/dev/null
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
LOCAL_PORT=$PORT CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning .build/release/cluster-sidecar >/dev/null 2>&1 &
until { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; do sleep 0.01; done
exec 3>&-
URL="http://127.0.0.1:$PORT/healthz"
for _ in $(seq "$N"); do printf 'url = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{num_connects}\\n"\n' "$URL"; done > "$WORK/curl.cfg"

printf '%-28s %10s %8s %12s\n' "client ($N requests at once)" seconds errors connections
for r in $(seq "$ROUNDS"); do
  read -r s e c <<<"$(.build/release/sidecar-bench client "$URL" "$N")"
  printf '%-28s %10s %8s %12s\n' "CurlClient (round $r)" "$s" "$e" "$c"
  t0=$EPOCHREALTIME
  curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 300 -K "$WORK/curl.cfg" > "$WORK/out.txt" 2>/dev/null
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" -v n="$N" -v r="$r" '{ if ($1 != "200") e++; c += $2 } END { printf "%-28s %10.4f %8d %12d\n", "curl --parallel (round " r ")", b - a, e + (n - NR), c }' "$WORK/out.txt"
done
echo "(curl --parallel caps at 300 transfers at once; CurlClient queues beyond 8 connections per host)"
