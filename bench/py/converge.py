"""COUNT real sidecars started together against the registry at MIT_URL: the time from the
first start until every sidecar's view holds all of them, and each one's time to hold them.

Usage: converge.py BIN MIT_URL COUNT SECRET
"""
import http.client, json, os, subprocess, sys, tempfile, threading, time

binary, mit, count, secret = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
logs = tempfile.mkdtemp(prefix="converge-")
env = dict(os.environ, LOCAL_PORT="0", CLUSTER_PORT="0", CLUSTER_ADDRESS="127.0.0.1", MIT_URL=mit,
           OAUTH_TOKEN_URL=",".join(u + "/oauth/token" for u in mit.split(",")), OAUTH_CLIENT_ID="bench",
           OAUTH_CLIENT_SECRET="bench-client-secret", SERVER_TYPE="converge", SERVER_URL="http://127.0.0.1:9/app",
           JWT_SECRET=secret, LOG_LEVEL="info")
procs, files = [], []
start = time.perf_counter()
try:
    for k in range(count):
        f = open(f"{logs}/{k}.log", "w+")
        files.append(f)
        procs.append(subprocess.Popen([binary], env=env, stdout=f, stderr=subprocess.STDOUT))
    ports = [None] * count
    while None in ports:
        for k, f in enumerate(files):
            if ports[k] is None:
                f.seek(0)
                for line in f:
                    if '"message":"listening"' in line:
                        ports[k] = int(json.loads(line)["local"].rsplit(":", 1)[1])
        if time.perf_counter() - start > 60: sys.exit("sidecars did not start in 60 s")
        time.sleep(0.05)
    listening = time.perf_counter() - start
    done = [None] * count

    def follow(k, port):
        # Blocking queries: each answer comes when the view changed, so polling costs nothing.
        index = "0"
        while time.perf_counter() - start < 120:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                c.request("GET", f"/cluster/servers?index={index}&wait=10s")
                r = c.getresponse(); body = json.loads(r.read()); c.close()
                index = r.getheader("X-Cluster-Index") or index
                if len(body.get("servers", [])) == count:
                    done[k] = time.perf_counter() - start
                    return
            except Exception:
                time.sleep(0.05)

    threads = [threading.Thread(target=follow, args=(k, port)) for k, port in enumerate(ports)]
    for th in threads: th.start()
    for th in threads: th.join()
    held = sorted(d for d in done if d is not None)
    if len(held) < count:
        print(f"  {count} sidecars: only {len(held)} views held all {count} after 120 s")
    else:
        print(f"  {count} sidecars started together: every view at {count} after {held[-1]:.2f} s "
              f"(all listening after {listening:.2f} s; the first view at {count} after {held[0]:.2f} s, the median {held[len(held) // 2]:.2f} s)")
finally:
    for p in procs: p.terminate()
    for p in procs:
        try: p.wait(10)
        except subprocess.TimeoutExpired: p.kill()
