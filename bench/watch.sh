#!/usr/bin/env bash
# bench/watch.sh: how soon a blocking query and an event stream see a change, and what open
# watchers cost. A sidecar (release build) gets createItResource pushes on its cluster API;
# one event stream and one blocking query at a time measure the time from the push's send to
# the change's arrival (p50, p99 over N pushes); then 1,000 event streams held open, the
# sidecar's RSS before and after.
#
# Usage: [BIN=path] bench/watch.sh [pushes, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
N="${1:-200}"
BIN="${BIN:-.build/release/cluster-sidecar}"
[ -x "$BIN" ] || make -s release >/dev/null
SECRET=bench-secret-0123456789abcdef0123456789
LOCAL=$(free_port); CLUSTER=$(free_port)
LOCAL_PORT=$LOCAL CLUSTER_PORT=$CLUSTER CLUSTER_ADDRESS=127.0.0.1 JWT_SECRET=$SECRET SERVER_TYPE=bench \
  SERVER_URL=http://127.0.0.1:9 MAX_WATCHERS=2000 LOG_LEVEL=warning "$BIN" > /dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
wait_port "$LOCAL"; wait_port "$CLUSTER"
sleep 4  # past the start-up trim (3 s in), which would hand pages back during the count
python3 - "$LOCAL" "$CLUSTER" "$(hs256_token "$SECRET")" "$N" "$PID" <<'PY'
import json, resource, socket, sys, threading, time
local, cluster, token, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))

def push(k):
    body = json.dumps({"id": f"w{k}", "type": "bench", "url": "http://127.0.0.1:7", "clusterUrl": "http://127.0.0.1:7"})
    s = socket.create_connection(("127.0.0.1", cluster))
    s.sendall((f"POST /itResources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
    sent = time.perf_counter()
    while s.recv(4096): pass
    s.close()
    return sent

def pct(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000

def rss(): return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
before = rss(); streams = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", local)); s.sendall(b"GET /cluster/events HTTP/1.1\r\nHost: localhost\r\n\r\n"); streams.append(s)
for s in streams:
    data = b""
    while b"event: snapshot" not in data: data += s.recv(65536)
time.sleep(0.5)
after = rss()
print(f"1,000 open event streams: RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB (+{(after - before) / 1024:.1f} MiB)")
for s in streams: s.close()

# An event stream: the time from a push's send to its event's arrival.
stream = socket.create_connection(("127.0.0.1", local))
stream.sendall(b"GET /cluster/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
buf = b""
while b"event: snapshot" not in buf: buf += stream.recv(65536)
lat = []
for k in range(n):
    got = threading.Event(); box = {}
    def reader():
        data = b""
        while f'"id":"w{k}"'.encode() not in data: data += stream.recv(65536)
        box["t"] = time.perf_counter(); got.set()
    t = threading.Thread(target=reader); t.start()
    sent = push(k); t.join(); lat.append(box["t"] - sent)
print(f"event stream: a change seen {pct(lat, 0.5):.2f} ms (p50), {pct(lat, 0.99):.2f} ms (p99) after its push was sent, {n} pushes")

# A blocking query at the current index: answered when the next push lands.
def index():
    s = socket.create_connection(("127.0.0.1", local)); s.sendall(b"GET /cluster/servers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while (c := s.recv(65536)): data += c
    return int([l for l in data.split(b"\r\n") if l.lower().startswith(b"x-cluster-index")][0].split(b":")[1])
lat = []
for k in range(n, 2 * n):
    i = index()
    q = socket.create_connection(("127.0.0.1", local))
    q.sendall(f"GET /cluster/servers?index={i}&wait=10s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    time.sleep(0.002)
    box = {}
    def reader():
        data = b""
        while (c := q.recv(65536)): data += c
        box["t"] = time.perf_counter()
    t = threading.Thread(target=reader); t.start()
    sent = push(k); t.join(); lat.append(box["t"] - sent)
print(f"blocking query: answered {pct(lat, 0.5):.2f} ms (p50), {pct(lat, 0.99):.2f} ms (p99) after the push was sent, {n} pushes")

PY
