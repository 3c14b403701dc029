"""bench/hostile.py BIN: hostile node answers against one sidecar binary (see bench/hostile.sh)."""
import base64, hashlib, hmac, http.client, json, os, socket, subprocess, sys, threading, time

BIN = sys.argv[1]
SECRET = "hostile-bench-secret-0123456789abcdef"


def node(answer):
    """A node on 127.0.0.1 answering `answer` to every request; returns its port."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)

    def serve(c):
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                while b"\r\n\r\n" in buf:
                    buf = buf.split(b"\r\n\r\n", 1)[1]
                    c.sendall(answer)
        except OSError:
            return  # the sidecar gave up on this node: that is the point

    def accept():
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return s.getsockname()[1]


def body_answer(body):
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def token():
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps({"exp": int(time.time()) + 600, "cluster": True}).encode())
    return (h + b"." + p + b"." + b64(hmac.new(SECRET.encode(), h + b"." + p, hashlib.sha256).digest())).decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sidecar:
    def __init__(self, node_urls):
        self.local, self.cluster = free_port(), free_port()
        env = dict(os.environ, LOCAL_PORT=str(self.local), CLUSTER_PORT=str(self.cluster), CLUSTER_ADDRESS="127.0.0.1", WORKERS="1",
                   LOG_LEVEL="error", SERVER_TYPE="t", JWT_SECRET=SECRET)
        self.p = subprocess.Popen([BIN], env=env)
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.cluster), timeout=1).close()
                break
            except OSError:
                time.sleep(0.01)
        for k, url in enumerate(node_urls):
            c = http.client.HTTPConnection("127.0.0.1", self.cluster)
            c.request("POST", "/itResources", json.dumps({"id": "n%d" % k, "type": "t", "url": url, "clusterUrl": "http://127.0.0.1:9"}),
                      {"Authorization": "Bearer " + token(), "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status in (200, 201), r.status

    def cpu(self):
        f = open("/proc/%d/stat" % self.p.pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self):
        return int(open("/proc/%d/status" % self.p.pid).read().split("VmRSS:")[1].split()[0]) // 1024

    def fanout(self):
        c = http.client.HTTPConnection("127.0.0.1", self.local, timeout=120)
        c.request("POST", "/cluster/fanout", json.dumps({"url": "/x"}), {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def stop(self):
        self.p.terminate()
        self.p.wait()


def one_node(name, answer, host="127.0.0.1", rounds=20):
    """One caller, one hostile node, `rounds` fan-outs: CPU per fan-out, the worst /healthz."""
    sc = Sidecar(["http://%s:%d" % (host, node(answer))])
    worst, stop = [0.0], [False]

    def probe():
        while not stop[0]:
            t = time.perf_counter()
            c = http.client.HTTPConnection("127.0.0.1", sc.local)
            c.request("GET", "/healthz")
            c.getresponse().read()
            c.close()
            worst[0] = max(worst[0], time.perf_counter() - t)
            time.sleep(0.002)

    th = threading.Thread(target=probe)
    th.start()
    c0, t0 = sc.cpu(), time.perf_counter()
    status, body = sc.fanout()
    for _ in range(rounds - 1):
        sc.fanout()
    elapsed, cpu_ms = time.perf_counter() - t0, (sc.cpu() - c0) * 1000 / rounds
    stop[0] = True
    th.join()
    codes = [f["error"]["code"] for f in json.loads(body)["failures"]] if status == 200 else [status]
    print("hostile: %-34s %d fan-outs in %6.2f s; CPU per fan-out %7.1f ms; worst /healthz %6.1f ms; aggregate %8d bytes; failures %s"
          % (name, rounds, elapsed, cpu_ms, worst[0] * 1000, len(body), codes or "none"))
    sc.stop()


def memory(size, seconds=10):
    """8 callers fanning out at once to 4 nodes answering `size` control bytes: peak RSS."""
    answer = body_answer(b"\x01" * size)
    sc = Sidecar(["http://127.0.0.1:%d" % node(answer) for _ in range(4)])
    stop, statuses, lock, peak = time.time() + seconds, {}, threading.Lock(), [0]

    def caller():
        while time.time() < stop:
            status, _ = sc.fanout()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    def sampler():
        while time.time() < stop:
            peak[0] = max(peak[0], sc.rss_mib())
            time.sleep(0.02)

    ts = [threading.Thread(target=caller) for _ in range(8)] + [threading.Thread(target=sampler)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("hostile: 8 callers x 4 nodes of %7d control bytes, %d s: answers %s, peak RSS %d MiB" % (size, seconds, dict(sorted(statuses.items())), peak[0]))
    sc.stop()


print("hostile: %s" % BIN)
one_node("small answer (2 bytes)", body_answer(b"ok"))
one_node("1 MiB of text", body_answer(b"a" * (1 << 20)))
one_node("340 KiB of control bytes", body_answer(b"\x01" * 349000))
one_node("1 MiB of control bytes", body_answer(b"\x01" * (1 << 20)))
# FIELDS (default 20,000) fields of distinct names: the merge of repeated fields compared each
# with every one before it.
n = int(os.environ.get("FIELDS", "20000"))
fields = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(n)) + b"Content-Length: 0\r\n\r\n"
# A name our own client does not take (it takes addresses and "localhost"): the host's own
# name when it resolves to a loopback address, else "localhost." (a fully qualified localhost).
name = socket.gethostname()
try:
    if not socket.gethostbyname(name).startswith("127."):
        name = "localhost."
except OSError:
    name = "localhost."
one_node("%d fields, host name (libcurl)" % n, fields, host=name, rounds=int(os.environ.get("FIELD_ROUNDS", "2")))
memory(349000)
memory(1 << 20)
