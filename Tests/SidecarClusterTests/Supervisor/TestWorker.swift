import Foundation

/// A worker program for `cluster-sidecar run`, in Python: it takes the shared socket as fd 3
/// (checking `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES`), answers every request with its
/// identity (`GET /slow?ms=N` after N ms), sends `READY=1` when `NOTIFY_SOCKET` is set, and on
/// SIGTERM stops accepting, finishes what it has accepted and exits 0.
///
/// Under `WORKER_UNDER_SHELL`, it is a shell's child and expects `LISTEN_PID` to be the shell's.
/// `WORKER_MODE_FILE` names a file read at start: `crash` exits 3 at once, `hang` never gets
/// ready (no `READY=1`, and no answers), anything else serves. Tests flip it between
/// generations.
enum TestWorker {
    static let source = #"""
        import os, signal, socket, sys, threading, time

        mode = "serve"
        path = os.environ.get("WORKER_MODE_FILE")
        if path and os.path.exists(path):
            mode = open(path).read().strip() or "serve"
        if mode == "crash":
            sys.exit(3)
        # Under a shell that did not exec it, the socket was passed to the shell, its parent.
        owner = os.getppid() if os.environ.get("WORKER_UNDER_SHELL") else os.getpid()
        if os.environ.get("LISTEN_FDS") != "1" or os.environ.get("LISTEN_PID") != str(owner) or os.environ.get("LISTEN_FDNAMES") != "app":
            print("worker: bad socket activation variables", os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID"), os.getpid(), file=sys.stderr)
            sys.exit(4)
        me = '{"worker":%s,"generation":%s,"pid":%d}' % (os.environ["APP_WORKER_ID"], os.environ["APP_GENERATION"], os.getpid())
        listener = socket.socket(fileno=3)
        listener.settimeout(0.05)
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())

        def handle(conn):
            try:
                conn.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                target = data.split(b" ", 2)[1].decode()
                if target.startswith("/slow"):
                    print("worker: slow request started", flush=True)
                    time.sleep(int(target.split("ms=")[1]) / 1000.0)
                body = me.encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            finally:
                conn.close()

        if mode == "hang":
            while not stopping.is_set():
                time.sleep(0.05)
            sys.exit(0)
        notify = os.environ.get("NOTIFY_SOCKET")
        if notify:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.sendto(b"READY=1\nSTATUS=serving as worker " + os.environ["APP_WORKER_ID"].encode(), "\0" + notify[1:] if notify.startswith("@") else notify)
            s.close()
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except (socket.timeout, BlockingIOError, InterruptedError):
                continue
            threading.Thread(target=handle, args=(conn,)).start()
        sys.exit(0)
        """#

    /// Writes the program to a fresh file and returns its path.
    static func write() throws -> String {
        let path = NSTemporaryDirectory() + "cluster-sidecar-worker-\(UUID().uuidString).py"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
