#!/usr/bin/env bash
# bench/http.sh: the sidecar's GET /healthz against nginx serving the same body, side by side.
#
# Prints, per connection count: req/s, p50, p99 and the server's CPU time per request
# (from /proc/PID/stat before and after) for both, and the sidecar/nginx ratios. Also the
# sidecar's RSS idle, holding 10,000 idle connections, and after the runs (peak), and the
# time from exec to the first 200. wrk shares the 2 cores with the server: a single run's
# req/s moves ±20 %; CPU per request is the steadier figure.
#
# Usage: [SIDECAR_BIN=path] bench/http.sh [seconds per run, default 10]   (needs wrk and nginx-light; installs them)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION="${1:-10}"
CORES=$(nproc)
for pkg in wrk nginx-light; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null; }
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# SIDECAR_BIN measures another build (e.g. the one before a change) instead of building this one.
if [ -n "${SIDECAR_BIN:-}" ]; then BIN=$SIDECAR_BIN; else make -s release >/dev/null; BIN=.build/release/cluster-sidecar; fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

SC_PORT=$(free_port); NG_PORT=$(free_port)

# nginx: same body, same content type, one worker per core, no access log.
{ nginx_conf_head "$CORES" "$WORK"; cat <<CONF; } > "$WORK/nginx.conf"
  server {
    listen 127.0.0.1:$NG_PORT backlog=65535;
    location = /healthz { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"

# Exec to first 200: bash's /dev/tcp and EPOCHREALTIME poll without forking.
t0=$EPOCHREALTIME
LOCAL_PORT=$SC_PORT CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning "$BIN" >"$WORK/sidecar.log" 2>&1 &
SC_PID=$!
while :; do
  if exec 3<>"/dev/tcp/127.0.0.1/$SC_PORT" 2>/dev/null; then
    printf 'GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n' >&3
    IFS= read -r line <&3 || true
    exec 3>&-
    [[ "$line" == *" 200 "* ]] && break
  fi
done
t1=$EPOCHREALTIME
START_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)*1000}')
sleep 0.2
rss() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
RSS_IDLE=$(rss $SC_PID)

# 10,000 idle connections held open by one client process.
python3 - "$SC_PORT" "$SC_PID" > "$WORK/idle10k" <<'PY'
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
port, pid = int(sys.argv[1]), sys.argv[2]
socks = []
t = time.time()
for _ in range(10000):
    s = socket.socket(); s.connect(("127.0.0.1", port)); socks.append(s)
accept_s = time.time() - t
s = socks[-1]; s.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"); ok = b" 200 " in s.recv(4096)
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"{int(rss)/1024:.1f} {accept_s:.2f} {ok}")
PY
read -r RSS_10K ACCEPT_10K OK_10K < "$WORK/idle10k"
sleep 0.5

ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
NG_PIDS=$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')
HZ=$(getconf CLK_TCK)
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v+0} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000000}}'; }
run() { # name port conns pids...
  local name=$1 port=$2 conns=$3; shift 3
  local a b out
  a=$(ticks "$@")
  out=$(wrk -t2 -c"$conns" -d"${DURATION}s" --latency "http://127.0.0.1:$port/healthz")
  b=$(ticks "$@")
  local reqs rps p50 p99 cpu
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/{printf "%.0f", $2}')
  p50=$(echo "$out" | awk '$1=="50%"{print $2}' | to_us)
  p99=$(echo "$out" | awk '$1=="99%"{print $2}' | to_us)
  cpu=$(awk -v t=$((b - a)) -v hz="$HZ" -v n="$reqs" 'BEGIN{printf "%.2f", t/hz*1e6/n}')
  echo "$rps $p50 $p99 $cpu"
}

printf '\n%-6s %-8s %10s %10s %10s %12s\n' conns server "req/s" "p50 us" "p99 us" "cpu us/req"
for c in 50 256; do
  read -r n_rps n_p50 n_p99 n_cpu <<<"$(run nginx "$NG_PORT" "$c" $NG_PIDS)"
  read -r s_rps s_p50 s_p99 s_cpu <<<"$(run sidecar "$SC_PORT" "$c" $SC_PID)"
  printf '%-6s %-8s %10s %10s %10s %12s\n' "$c" nginx "$n_rps" "$n_p50" "$n_p99" "$n_cpu"
  printf '%-6s %-8s %10s %10s %10s %12s\n' "$c" sidecar "$s_rps" "$s_p50" "$s_p99" "$s_cpu"
  awk -v a="$s_rps" -v b="$n_rps" -v c="$s_p50" -v d="$n_p50" -v e="$s_p99" -v f="$n_p99" -v g="$s_cpu" -v h="$n_cpu" -v k="$c" \
    'BEGIN{printf "%-6s %-8s %9.2fx %9.2fx %9.2fx %11.2fx\n", k, "ratio", a/b, c/d, e/f, g/h}'
done
echo
echo "sidecar RSS idle:                 $RSS_IDLE MiB"
echo "sidecar RSS with 10,000 idle conns: $RSS_10K MiB (accepted in ${ACCEPT_10K}s, answering: $OK_10K)"
echo "sidecar peak RSS (VmHWM) after runs: $(hwm $SC_PID) MiB"
echo "exec to first 200:                $START_MS ms"
echo "(ratios are sidecar / nginx: above 1 is better for req/s, below 1 is better for latency and CPU)"
