#!/usr/bin/env bash
# bench/fuzz.sh TARGET MINUTES: runs one libFuzzer target (the toolchain's
# -sanitize=fuzzer,address) for MINUTES (decimals allowed), starting from the committed seeds
# in bench/fuzz/seeds/TARGET. Targets (Sources/sidecar-fuzz/Targets.swift):
#   head     the connection state machine (request heads, bodies, pipelining), whole vs split
#   chunked  the chunked decoder with trailers, whole vs split
#   fanout   POST /cluster/fanout options
#   server   createItResource bodies
#   jwt      the JWT front end, before any signature check
#   response a node's answer as the fan-out's client reads it, whole vs split, closed or not
#   curlhead an answer's head on the libcurl path, line by line, against our parser fed it whole
#   local    the local API's Host, Origin and Sec-Fetch-Site checks
#   terminal text escaped for a terminal (cluster-sidecar status)
# A crash (or a broken invariant) leaves its input in bench/fuzz/crashes/ and exits 1: add it
# as a regression test, fix, and replay it with .build/debug/sidecar-fuzz TARGET FILE.
# Usage: bench/fuzz.sh TARGET MINUTES   |   bench/fuzz.sh all MINUTES (each target in turn)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${1:?usage: bench/fuzz.sh TARGET|all MINUTES}"
MINUTES="${2:-1}"
SCRATCH=.build-fuzz
swift build -c release --product sidecar-fuzz --scratch-path "$SCRATCH" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld >/dev/null
BIN=$(swift build -c release --product sidecar-fuzz --scratch-path "$SCRATCH" --show-bin-path)/sidecar-fuzz
SECONDS_TO_RUN=$(awk -v m="$MINUTES" 'BEGIN{printf "%d", m * 60}')
mkdir -p bench/fuzz/crashes
run() {
  local t=$1 corpus
  corpus=$(mktemp -d)
  echo "fuzz: $t for $SECONDS_TO_RUN s"
  if ! FUZZ_TARGET=$t "$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="bench/fuzz/crashes/$t-" "$corpus" "bench/fuzz/seeds/$t" 2>"$corpus.log"; then
    tail -40 "$corpus.log"
    echo "fuzz: $t FAILED (input in bench/fuzz/crashes/)"
    rm -rf "$corpus" "$corpus.log"
    return 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|cov:' "$corpus.log" | tail -3
  echo "fuzz: $t ran $(grep -E '^stat::number_of_executed_units' "$corpus.log" | awk '{print $2}') inputs, corpus $(ls "$corpus" | wc -l) files: no crash"
  rm -rf "$corpus" "$corpus.log"
}
if [ "$TARGET" = all ]; then
  for t in head chunked fanout server jwt response curlhead local terminal; do run "$t"; done
else
  run "$TARGET"
fi
