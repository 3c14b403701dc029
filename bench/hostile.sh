#!/usr/bin/env bash
# bench/hostile.sh: what hostile node answers cost the sidecar, against the build before a change.
#
# For each binary (BEFORE_BIN, when set, then this build's release binary): one caller fanning
# out 20 times to one node answering 2 bytes, 1 MiB of text, 340 KiB and 1 MiB of control bytes
# (each of which the aggregate writes twice as \u0001), and 20,000 header fields to a node named
# by host name (the libcurl path; FIELD_ROUNDS, default 2, as the build before the security pass
# spends seconds on each): the sidecar's CPU per fan-out from /proc/PID/stat, the worst
# /healthz latency on its one event loop meanwhile, the aggregate's size and the node's failure.
# Then 8 callers fanning out at once for 10 s to 4 nodes answering control bytes: the answers
# by status and the sidecar's peak RSS.
#
# Usage: [BEFORE_BIN=path] bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --static-swift-stdlib --product cluster-sidecar >/dev/null
for bin in ${BEFORE_BIN:-} .build/release/cluster-sidecar; do
  python3 bench/hostile.py "$bin"
done
