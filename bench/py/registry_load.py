"""Simulated sidecars against a registry: N registrations, then each renewed every INTERVAL
seconds, spread evenly, for SECONDS. Prints renewals per second, p50/p99 latency, CPU per
renewal of the PIDs given (from /proc/PID/stat), and how many leases were lost (a 404) or
failed otherwise.

Usage: registry_load.py PORT N INTERVAL SECONDS PID[,PID...]
"""
import http.client, json, os, sys, threading, time

port, n, interval, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
pids = [p for p in sys.argv[5].split(",") if p]
THREADS = 16
tick = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


def token():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/oauth/token", "grant_type=client_credentials&client_id=bench&client_secret=bench-client-secret",
              {"Content-Type": "application/x-www-form-urlencoded"})
    return json.loads(c.getresponse().read())["access_token"]


auth = {"Authorization": "Bearer " + token(), "Content-Type": "application/json"}
ids = [None] * n
took_register = []


def register(part):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for k in part:
        body = json.dumps({"type": "load", "url": f"http://10.9.{k // 250}.{k % 250}:80",
                           "clusterUrl": f"http://10.9.{k // 250}.{k % 250}:8460", "cluster": False})
        sent = time.perf_counter()
        c.request("POST", "/servers", body, auth)
        r = c.getresponse(); answer = r.read()
        took_register.append(time.perf_counter() - sent)
        if r.status != 201: sys.exit(f"registration answered {r.status}: {answer[:200]}")
        # The answer opens with its id ({"id":"...",): the list after it is not parsed here, so the
        # figures are the registry's, not this script's JSON parser's.
        ids[k] = answer[7:answer.index(b'"', 7)].decode()


started = time.perf_counter()
cpu_before_register = [cpu(p) for p in pids]
workers = [threading.Thread(target=register, args=(range(t, n, THREADS),)) for t in range(THREADS)]
for w in workers: w.start()
for w in workers: w.join()
took_register.sort()
per_registration = ", ".join(f"{(cpu(p) - c) / n * 1e6:.0f}" for p, c in zip(pids, cpu_before_register))
print(f"  {n} registrations in {time.perf_counter() - started:.1f} s ({THREADS} at a time): p50 "
      f"{took_register[n // 2] * 1000:.1f} ms, p99 {took_register[min(n - 1, n * 99 // 100)] * 1000:.1f} ms, "
      f"CPU per registration (us, per process) {per_registration}; each answer lists every server of the type")

latencies, lost, failed = [], [0], [0]
lock = threading.Lock()
t0 = time.perf_counter() + 0.5
end = t0 + seconds


def renew(part):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    mine, lat = [], []
    # Server k renews at t0 + (k / n) * interval + j * interval.
    schedule = sorted(((k / n) * interval, k) for k in part)
    j = 0
    while True:
        for offset, k in schedule:
            due = t0 + offset + j * interval
            if due >= end: break
            now = time.perf_counter()
            if due > now: time.sleep(due - now)
            sent = time.perf_counter()
            try:
                c.request("PUT", f"/servers/{ids[k]}/lease", None, auth)
                r = c.getresponse(); r.read()
                status = r.status
            except Exception:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30); status = 0
            lat.append(time.perf_counter() - sent)
            if status == 404:
                with lock: lost[0] += 1
            elif status != 200:
                with lock: failed[0] += 1
        else:
            j += 1
            continue
        break
    with lock: latencies.extend(lat)


cpu0 = [cpu(p) for p in pids]
workers = [threading.Thread(target=renew, args=(range(t, n, THREADS),)) for t in range(THREADS)]
for w in workers: w.start()
for w in workers: w.join()
took = time.perf_counter() - t0
used = [cpu(p) - c for p, c in zip(pids, cpu0)]
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000
count = len(latencies)
per = ", ".join(f"{u / count * 1e6:.0f}" for u in used)
print(f"  renewals {count} in {took:.1f} s: {count / took:.0f}/s, p50 {pct(0.5):.2f} ms, p99 {pct(0.99):.2f} ms, "
      f"max {latencies[-1] * 1000:.1f} ms; CPU per renewal (us, per process) {per}; leases lost {lost[0]}, other failures {failed[0]}")
