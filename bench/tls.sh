#!/usr/bin/env bash
# bench/tls.sh: the cluster listener over TLS against nginx with the same ECDSA P-256
# certificate, side by side in one run.
#
# Prints: keep-alive GET /healthz over TLS 1.3 (wrk: req/s, p50, p99, the server's CPU per
# request from /proc/PID/stat); new connections per second, full handshakes and resumed ones
# (openssl s_time -new / -reuse, TLS 1.2 and 1.3); the server's memory per idle TLS connection
# (1,000 held open after their handshake); the sidecar's idle RSS with TLS against without;
# failed requests while the certificate rotates every half second under load; and a 64-node
# fan-out to https:// nodes against the Node.js reference (https.request, keep-alive).
# wrk and s_time share the 2 cores with the servers: one run's rates move ±20 %; CPU per
# request is steadier.
#
# Usage: [SIDECAR_BIN=path] bench/tls.sh [seconds per run, default 10]   (needs wrk, nginx-light, openssl, node)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION="${1:-10}"
CORES=$(nproc)
for pkg in wrk nginx-light openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null; }
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ -n "${SIDECAR_BIN:-}" ]; then BIN=$SIDECAR_BIN; else make -s release >/dev/null; BIN=.build/release/cluster-sidecar; fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

# One CA, one server certificate for 127.0.0.1, ECDSA P-256.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.pem" \
  -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/server.key" -out "$WORK/server.csr" \
  -subj "/CN=bench" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$WORK/server.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -out "$WORK/server.pem" \
  -days 2 -extfile "$WORK/server.ext" 2>/dev/null

SC_PORT=$(free_port); NG_PORT=$(free_port); PLAIN_PORT=$(free_port)
{ nginx_conf_head "$CORES" "$WORK"; cat <<CONF; } > "$WORK/nginx.conf"
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  server {
    listen 127.0.0.1:$NG_PORT ssl backlog=65535;
    ssl_certificate $WORK/server.pem;
    ssl_certificate_key $WORK/server.key;
    location = /healthz { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"
NG_PIDS=$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')

CLUSTER_TLS_CERT_FILE="$WORK/server.pem" CLUSTER_TLS_KEY_FILE="$WORK/server.key" LOCAL_PORT=$(free_port) CLUSTER_PORT=$SC_PORT \
  CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning "$BIN" > "$WORK/sidecar.log" 2>&1 &
SC_PID=$!
LOCAL_PORT=$PLAIN_PORT CLUSTER_PORT=0 CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=warning "$BIN" > "$WORK/plain.log" 2>&1 &
PLAIN_PID=$!
wait_port "$SC_PORT"; wait_port "$NG_PORT"; wait_port "$PLAIN_PORT"
sleep 0.5
rss() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
RSS_TLS=$(rss $SC_PID); RSS_PLAIN=$(rss $PLAIN_PID)
kill $PLAIN_PID

HZ=$(getconf CLK_TCK)
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v+0} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000000}}'; }
keepalive() { # port conns pids...
  local port=$1 conns=$2; shift 2
  local a b out reqs
  a=$(ticks "$@")
  out=$(wrk -t2 -c"$conns" -d"${DURATION}s" --latency "https://127.0.0.1:$port/healthz")
  b=$(ticks "$@")
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  printf '%s %s %s %s\n' "$(echo "$out" | awk '/Requests\/sec/{printf "%.0f", $2}')" \
    "$(echo "$out" | awk '$1=="50%"{print $2}' | to_us)" "$(echo "$out" | awk '$1=="99%"{print $2}' | to_us)" \
    "$(awk -v t=$((b - a)) -v hz="$HZ" -v n="$reqs" 'BEGIN{printf "%.2f", t/hz*1e6/n}')"
}
handshakes() { # port mode version pids... -> connections per second (wall clock), CPU per connection (us)
  local port=$1 mode=$2 version=$3; shift 3
  local a b t0 t1 out n
  a=$(ticks "$@"); t0=$EPOCHREALTIME
  out=$(openssl s_time -connect "127.0.0.1:$port" "-$mode" "-$version" -time "$DURATION" -www /healthz 2>/dev/null || true)
  t1=$EPOCHREALTIME; b=$(ticks "$@")
  # "N connections in 1.05s; ..." (s_time's "real seconds" are whole seconds: timed here instead).
  n=$(echo "$out" | awk '/connections in/ && /connections\/user sec/ {print $1; exit}')
  [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "0 0"; return; }
  awk -v n="$n" -v a="$t0" -v b="$t1" -v t=$((b - a)) -v hz="$HZ" 'BEGIN{printf "%.0f %.0f\n", n/(b-a), t/hz*1e6/n}'
}
idle_conns() { # port pids... -> KiB per idle TLS connection
  local port=$1; shift
  python3 - "$port" "$@" <<'PY'
import socket, ssl, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
port, pids = int(sys.argv[1]), sys.argv[2:]
def rss(): return sum(int([l for l in open(f"/proc/{p}/status") if l.startswith("VmRSS")][0].split()[1]) for p in pids)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
before = rss(); conns = []
for _ in range(1000):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    conns.append(s)
time.sleep(0.5)
print(f"{(rss() - before) / 1000:.1f}")
PY
}

printf '\n%-28s %-8s %10s %10s %10s %12s\n' "keep-alive GET /healthz" server "req/s" "p50 us" "p99 us" "cpu us/req"
for c in 50 256; do
  read -r n_rps n_p50 n_p99 n_cpu <<<"$(keepalive "$NG_PORT" "$c" $NG_PIDS)"
  read -r s_rps s_p50 s_p99 s_cpu <<<"$(keepalive "$SC_PORT" "$c" $SC_PID)"
  printf '%-28s %-8s %10s %10s %10s %12s\n' "TLS 1.3, $c conns" nginx "$n_rps" "$n_p50" "$n_p99" "$n_cpu"
  printf '%-28s %-8s %10s %10s %10s %12s\n' "" sidecar "$s_rps" "$s_p50" "$s_p99" "$s_cpu"
  awk -v a="$s_rps" -v b="$n_rps" -v c="$s_p50" -v d="$n_p50" -v e="$s_p99" -v f="$n_p99" -v g="$s_cpu" -v h="$n_cpu" \
    'BEGIN{printf "%-28s %-8s %9.2fx %9.2fx %9.2fx %11.2fx\n", "", "ratio", a/b, c/d, e/f, g/h}'
done

printf '\n%-28s %-8s %12s %16s\n' "new connections (s_time)" server "per second" "cpu us/conn"
for version in tls1_3 tls1_2; do
  for mode in new reuse; do
    read -r n_rate n_cpu <<<"$(handshakes "$NG_PORT" "$mode" "$version" $NG_PIDS)"
    read -r s_rate s_cpu <<<"$(handshakes "$SC_PORT" "$mode" "$version" $SC_PID)"
    label="$version $([ "$mode" = new ] && echo full || echo resumed)"
    printf '%-28s %-8s %12s %16s\n' "$label" nginx "$n_rate" "$n_cpu" "" sidecar "$s_rate" "$s_cpu"
    awk -v a="$s_rate" -v b="$n_rate" -v c="$s_cpu" -v d="$n_cpu" \
      'BEGIN{printf "%-28s %-8s %11.2fx %15.2fx\n", "", "ratio", (b>0?a/b:0), (d>0?c/d:0)}'
  done
done

# Rotation under steady load: the certificate and key swapped (SIGHUP) every half second
# while wrk opens connections and sends; every request must succeed.
cp "$WORK/server.pem" "$WORK/live.pem"; cp "$WORK/server.key" "$WORK/live.key"
ROT_PORT=$(free_port)
CLUSTER_TLS_CERT_FILE="$WORK/live.pem" CLUSTER_TLS_KEY_FILE="$WORK/live.key" LOCAL_PORT=$(free_port) CLUSTER_PORT=$ROT_PORT \
  CLUSTER_ADDRESS=127.0.0.1 LOG_LEVEL=notice "$BIN" > "$WORK/rotating.log" 2>&1 &
ROT_PID=$!
wait_port "$ROT_PORT"
( end=$((SECONDS + DURATION)); while [ $SECONDS -lt $end ]; do
    cp "$WORK/server.pem" "$WORK/live.pem.new" && mv "$WORK/live.pem.new" "$WORK/live.pem"
    kill -HUP "$ROT_PID"; sleep 0.5; done ) &
ROTATOR=$!
ROT_OUT=$(wrk -t2 -c32 -d"${DURATION}s" -H 'Connection: close' "https://127.0.0.1:$ROT_PORT/healthz")
wait "$ROTATOR" 2>/dev/null || true
ROT_REQS=$(echo "$ROT_OUT" | awk '/requests in/{print $1}')
ROT_ERRS=$(echo "$ROT_OUT" | awk '/Socket errors/{gsub(",",""); print $4+$6+$8+$10; f=1} END{if(!f) print 0}')
ROT_NON2XX=$(echo "$ROT_OUT" | awk '/Non-2xx/{print $NF; f=1} END{if(!f) print 0}')
ROT_COUNT=$(grep -c 'cluster_tls' "$WORK/rotating.log" || true)
kill "$ROT_PID"

# A 64-node fan-out to https:// nodes (nginx, one worker, 64 TLS ports, the same certificate):
# the sidecar's own client against the Node.js reference (https.request, keep-alive agent).
SECRET=bench-secret-0123456789abcdef0123456789
TOKEN=$(hs256_token "$SECRET")
BASE=$(free_port_block)
{ echo "worker_processes 1; pid $WORK/nodes.pid; error_log $WORK/nodes.log warn; events { worker_connections 8192; }"
  echo "http { access_log off; server {"
  for k in $(seq 0 63); do echo "listen 127.0.0.1:$((BASE + k)) ssl;"; done
  echo "ssl_certificate $WORK/server.pem; ssl_certificate_key $WORK/server.key;"
  echo "location = /x { default_type application/json; return 200 '{\"node\":0}'; } } }"; } > "$WORK/nodes.conf"
nginx -c "$WORK/nodes.conf"
cc -O2 -o "$WORK/load" bench/stub/load.c -lpthread
FO_LOCAL=$(free_port); FO_CLUSTER=$(free_port)
FANOUT_CONCURRENCY=64 TLS_CA_FILE="$WORK/ca.pem" LOCAL_PORT=$FO_LOCAL CLUSTER_PORT=$FO_CLUSTER CLUSTER_ADDRESS=127.0.0.1 \
  SERVER_TYPE=bench SERVER_URL="https://127.0.0.1:$BASE" JWT_SECRET=$SECRET LOG_LEVEL=warning "$BIN" > "$WORK/fanout.log" 2>&1 &
FO_PID=$!
wait_port "$FO_LOCAL"; wait_port "$FO_CLUSTER"; wait_port $((BASE + 63))
for k in $(seq 1 63); do register_node "$TOKEN" "$FO_CLUSTER" "n$k" "https://127.0.0.1:$((BASE + k))" http://127.0.0.1:1; done
REF_PORT=$(free_port)
NODES=$(node_urls "$BASE" 64 | sed 's/http:/https:/g') NODE_EXTRA_CA_CERTS="$WORK/ca.pem" node bench/js/reference.js "$REF_PORT" > /dev/null &
REF_PID=$!
wait_port "$REF_PORT"
fanout() { # pid port -> fan-outs per second, CPU per fan-out (us), errors
  local pid=$1 port=$2 a b out
  "$WORK/load" throughput "$port" /cluster/fanout '{"url":"/x"}' 8 1 > /dev/null  # connections and sessions warm
  a=$(ticks "$pid")
  out=$("$WORK/load" throughput "$port" /cluster/fanout '{"url":"/x"}' 8 "$DURATION")
  b=$(ticks "$pid")
  python3 - "$out" "$((b - a))" "$HZ" "$DURATION" <<'PY'
import json, sys
thr = json.loads(sys.argv[1]); ticks, hz, secs = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f'{thr["perSecond"]:.0f} {ticks / hz * 1e6 / max(thr["perSecond"] * secs, 1):.0f} {thr["errors"]}')
PY
}
probe=$(curl -s -d '{"url":"/x"}' "http://127.0.0.1:$FO_LOCAL/cluster/fanout" | python3 -c 'import json,sys; a=json.load(sys.stdin); print(len(a["results"]), len(a["failures"]))')
read -r s_fo s_focpu s_foerr <<<"$(fanout "$FO_PID" "$FO_LOCAL")"
read -r r_fo r_focpu r_foerr <<<"$(fanout "$REF_PID" "$REF_PORT")"
kill "$FO_PID" "$REF_PID"; kill "$(cat "$WORK/nodes.pid")"

NG_IDLE=$(idle_conns "$NG_PORT" $NG_PIDS)
SC_IDLE=$(idle_conns "$SC_PORT" $SC_PID)
echo
echo "memory per idle TLS connection (1,000 open): nginx $NG_IDLE KiB, sidecar $SC_IDLE KiB"
echo "sidecar idle RSS: with TLS $RSS_TLS MiB, without $RSS_PLAIN MiB"
echo "rotation under load: $ROT_COUNT certificate reloads, $ROT_REQS requests on new connections, $ROT_ERRS socket errors, $ROT_NON2XX non-2xx"
echo "64 https:// nodes (one check fan-out: results, failures = $probe):"
printf '  %-10s %10s fan-outs/s %8s us CPU per fan-out  %s errors\n' sidecar "$s_fo" "$s_focpu" "$s_foerr" reference "$r_fo" "$r_focpu" "$r_foerr"
awk -v a="$s_focpu" -v b="$r_focpu" 'BEGIN{printf "  CPU per fan-out, sidecar / reference: %.2fx\n", a/b}'
echo "(ratios are sidecar / nginx: above 1 is better for rates, below 1 is better for latency and CPU)"
