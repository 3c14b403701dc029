#!/usr/bin/env bash
# bench/soak.sh: steady mixed traffic against a sidecar registered with the embedded registry,
# for MINUTES (decimals allowed), watching the sidecar for leaks.
#
# Traffic, each on its own keep-alive connection: GET /healthz; GET /status; POST
# /cluster/fanout to 4 stub nodes; createItResource churn on the cluster API (a server added,
# then deleted). The sidecar registers with the embedded registry and renews its lease every
# ~2 s throughout. Each second the sidecar's RSS, open descriptors and threads are sampled.
# Fails (exit 1) when any well-formed request fails, or when RSS, descriptors or threads grow
# by more than 5 % between the first and the last tenth of the run after warm-up (the first
# fifth, at least 20 s); descriptors and threads also by more than two (libdispatch's pool may
# add a worker: one step of 9 is 11 %). Prints the figures, the threads by name, and a verdict.
#
# Usage: [BIN=path] bench/soak.sh [MINUTES, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
MINUTES="${1:-10}"
BIN="${BIN:-.build/release/cluster-sidecar}"
[ -x "$BIN" ] || make -s release >/dev/null
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
SECRET=soak-secret-0123456789abcdef0123456789
REG=$(free_port); LOCAL=$(free_port); CLUSTER=$(free_port)
BASE=$(free_port_block)
cc -O2 -o "$WORK/stub" bench/stub/stub.c
"$WORK/stub" "$BASE" 4 0 > "$WORK/stubs.out" &
until grep -q ready "$WORK/stubs.out" 2>/dev/null; do sleep 0.05; done
REGISTRY_SECRET=$SECRET REGISTRY_CLIENT_ID=soak REGISTRY_CLIENT_SECRET=soak "$BIN" registry --port "$REG" --lease-time 2 > "$WORK/registry.log" 2>&1 &
wait_port "$REG"
MIT_URL=http://127.0.0.1:$REG OAUTH_TOKEN_URL=http://127.0.0.1:$REG/oauth/token OAUTH_CLIENT_ID=soak OAUTH_CLIENT_SECRET=soak \
  JWT_SECRET=$SECRET SERVER_TYPE=soak SERVER_URL="http://127.0.0.1:$BASE" LOCAL_PORT=$LOCAL CLUSTER_PORT=$CLUSTER \
  CLUSTER_ADDRESS=127.0.0.1 REGISTRATION_RETRY=0.5 LOG_LEVEL=warning "$BIN" > "$WORK/sidecar.log" 2>&1 &
PID=$!
wait_port "$LOCAL"
TOKEN=$(hs256_token "$SECRET")

python3 - "$PID" "$LOCAL" "$CLUSTER" "$BASE" "$TOKEN" "$MINUTES" <<'PY'
import http.client, json, os, sys, threading, time
pid, local, cluster, base, token, minutes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
duration = minutes * 60
stop = time.time() + duration
counts, failures, lock = {}, [], threading.Lock()

def registered():
    c = http.client.HTTPConnection("127.0.0.1", local, timeout=5)
    c.request("GET", "/status"); s = json.loads(c.getresponse().read())
    return s.get("REGISTRATION_STATUS") == "registered"
deadline = time.time() + 20
while not registered():
    if time.time() > deadline: sys.exit("soak: the sidecar did not register")
    time.sleep(0.2)
auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
# The stub nodes join the view through the cluster API, as peers would.
c = http.client.HTTPConnection("127.0.0.1", cluster, timeout=5)
for k in range(1, 4):
    body = json.dumps({"id": f"stub{k}", "type": "soak", "url": f"http://127.0.0.1:{base + k}", "clusterUrl": "http://127.0.0.1:9"})
    c.request("POST", "/itResources", body, auth); r = c.getresponse(); r.read()
    assert r.status in (200, 201), r.status

def loop(name, port, step):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    k = 0
    while time.time() < stop:
        k += 1
        for method, path, body, headers, ok in step(k):
            try:
                conn.request(method, path, body, headers)
                r = conn.getresponse(); data = r.read()
                good = r.status in ok and (name != "fanout" or b'"failures":[]' in data)
            except Exception as e:
                good, r, data = False, None, str(e).encode()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                counts[name] = counts.get(name, 0) + 1
                if not good: failures.append(f"{name} {method} {path}: {getattr(r, 'status', '-')} {data[:200]!r}")
        time.sleep(0.002)

fanout = json.dumps({"url": "/soak"})
threads = [
    threading.Thread(target=loop, args=("healthz", local, lambda k: [("GET", "/healthz", None, {}, (200,))])),
    threading.Thread(target=loop, args=("status", local, lambda k: [("GET", "/status", None, {}, (200,))])),
    threading.Thread(target=loop, args=("fanout", local, lambda k: [("POST", "/cluster/fanout", fanout, {"Content-Type": "application/json"}, (200,))])),
    threading.Thread(target=loop, args=("churn", cluster, lambda k: [
        ("POST", "/itResources", json.dumps({"id": f"churn{k}", "type": "soak", "url": f"http://127.0.0.1:{base + 1}", "clusterUrl": "http://127.0.0.1:9"}), auth, (201,)),
        ("DELETE", f"/servers/churn{k}", None, auth, (200,))])),
]
for t in threads: t.start()

def sample():
    status = open(f"/proc/{pid}/status").read()
    rss = int(next(l for l in status.splitlines() if l.startswith("VmRSS")).split()[1])
    threads_ = int(next(l for l in status.splitlines() if l.startswith("Threads")).split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads_
def thread_names():
    names = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try: n = open(f"/proc/{pid}/task/{t}/comm").read().strip()
        except OSError: continue
        names[n] = names.get(n, 0) + 1
    return ", ".join(f"{n} {c}" if c > 1 else n for n, c in sorted(names.items()))
samples = []
names_at_start = None
while time.time() < stop:
    samples.append(sample()); time.sleep(1)
    if len(samples) == 21: names_at_start = thread_names()
for t in threads: t.join()

warm = max(20, len(samples) // 5)
after = samples[warm:]
verdict = []
if len(after) >= 10:
    tenth = max(3, len(after) // 10)
    for i, what in enumerate(["RSS KiB", "descriptors", "threads"]):
        first = sum(s[i] for s in after[:tenth]) / tenth
        last = sum(s[i] for s in after[-tenth:]) / tenth
        growth = (last - first) / first * 100 if first else 0
        print(f"soak: {what:12} first tenth after warm-up {first:10.1f}  last tenth {last:10.1f}  growth {growth:+6.2f} %  (max {max(s[i] for s in samples)})")
        # Descriptors and threads move in whole steps: libdispatch adds a worker when blocking work
        # piles up (9 -> 10 threads is one step), a connection in flight holds a descriptor. A leak
        # over tens of thousands of requests is far more than two.
        slack = 0 if i == 0 else 2
        if growth > 5 and last - first > slack: verdict.append(f"{what} grew {growth:.1f} % ({first:.1f} -> {last:.1f})")
    print(f"soak: threads after warm-up: {names_at_start}")
    print(f"soak: threads at the end:    {thread_names()}")
else:
    print(f"soak: {len(samples)} samples: too short a run to judge growth (needs {warm + 10})")
total = sum(counts.values())
print(f"soak: {minutes} min, {total} requests ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), {len(failures)} failed")
for f in failures[:10]: print("soak: failed:", f)
if failures: verdict.append(f"{len(failures)} requests failed")
c = http.client.HTTPConnection("127.0.0.1", local, timeout=5)
c.request("GET", "/status"); s = json.loads(c.getresponse().read())
print(f"soak: registration {s['REGISTRATION_STATUS']}, lease renewals ok {s['leaseRenewals']['ok']} failed {s['leaseRenewals']['failed']}")
if s["REGISTRATION_STATUS"] != "registered": verdict.append("no longer registered")
print("soak: " + ("FAIL: " + "; ".join(verdict) if verdict else "PASS"))
sys.exit(1 if verdict else 0)
PY
