import Foundation
import SidecarTestSupport

/// `cluster-sidecar run` with the Python test worker, on port 0 everywhere.
final class SupervisedApp: @unchecked Sendable {  // immutable after init; the process handle is only read
    let process: SidecarProcess
    let local: UInt16
    let app: UInt16
    let modeFile: String
    private let script: String

    /// Starts it and waits for the listening and supervising lines (not for the workers).
    /// - Parameter throughShell: the worker is a shell that runs Python as its child (not exec).
    init(workers: Int = 2, environment: [String: String] = [:], mode: String = "serve", throughShell: Bool = false) throws {
        script = try TestWorker.write()
        modeFile = script + ".mode"
        try mode.write(toFile: modeFile, atomically: true, encoding: .utf8)
        var env = [
            "LOCAL_PORT": "0", "CLUSTER_PORT": "0", "CLUSTER_ADDRESS": "127.0.0.1", "APP_ADDRESS": "127.0.0.1", "APP_PORT": "0",
            "APP_WORKERS": "\(workers)", "APP_READY": "0.3", "APP_STOP_TIMEOUT": "5", "WORKER_MODE_FILE": modeFile,
        ]
        for (k, v) in environment { env[k] = v }
        let command = throughShell ? ["sh", "-c", "WORKER_UNDER_SHELL=1 python3 \(script); exit $?"] : ["python3", script]
        process = try SidecarProcess(environment: env, arguments: ["run", "--"] + command)
        guard let listening = process.waitForLine(containing: #""message":"listening""#),
            let supervising = process.waitForLine(containing: #""message":"supervising""#),
            let local = Self.port(listening, "local"), let app = Self.port(supervising, "socket")
        else { throw TestFailure("no listening or supervising line; stderr: \(process.stderrText())") }
        (self.local, self.app) = (local, app)
    }

    deinit {
        // Stopped as a user stops it, so that it stops its workers' process groups: a SIGKILL
        // takes only the workers themselves (PDEATHSIG), and a worker that is a shell would
        // leave its Python child running.
        if process.process.isRunning {
            process.signal(SIGTERM)
            if process.waitForExit(timeout: 10) == nil {
                process.signal(SIGKILL)
                _ = process.waitForExit(timeout: 5)
            }
        }
        unlink(script)
        unlink(modeFile)
    }

    static func port(_ line: String, _ key: String) -> UInt16? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        return (object[key] as? String)?.split(separator: ":").last.flatMap { UInt16($0) }
    }

    func setMode(_ mode: String) throws { try mode.write(toFile: modeFile, atomically: true, encoding: .utf8) }

    /// A request to the local API, its status and JSON body.
    func local(_ method: String, _ path: String) throws -> (status: Int, body: [String: Any]) {
        let c = try RawClient(port: local)
        try c.send("\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        let r = try c.readResponse()
        return (r.status, (try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]) ?? [:])
    }

    /// `GET /app/workers`.
    func status() throws -> [String: Any] { try local("GET", "/app/workers").body }

    func workers() throws -> [[String: Any]] { try status()["workers"] as? [[String: Any]] ?? [] }

    /// The pids of the ready workers, by id.
    func readyPIDs() throws -> [Int: Int32] {
        var pids: [Int: Int32] = [:]
        for w in try workers() where w["state"] as? String == "ready" { pids[w["id"] as! Int] = w["pid"] as? Int32 }
        return pids
    }

    /// One request on a new connection to the application: its JSON, or nil on any failure.
    func hit(_ path: String = "/", timeout: Double = 5) -> [String: Any]? {
        guard let c = try? RawClient(port: app, timeout: timeout), (try? c.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")) != nil,
            let r = try? c.readResponse(), r.status == 200
        else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
    }

    /// `eventually`, for conditions that read the local API (a failed read counts as false).
    static func waitUntil(_ seconds: Double = 10, _ condition: () throws -> Bool) -> Bool {
        eventually(seconds) { (try? condition()) == true }
    }

    /// Waits until `count` workers are ready.
    func waitReady(_ count: Int, seconds: Double = 10) -> Bool {
        Self.waitUntil(seconds) { try readyPIDs().count == count }
    }

    /// Whether process `pid` still exists.
    static func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }
}

/// A client opening a new connection per request, in a loop on its own thread, until stopped.
final class SteadyLoad: @unchecked Sendable {  // counters behind the lock
    private let lock = NSLock()
    private var stopped = false
    private(set) var ok = 0
    private(set) var failed = 0
    private(set) var generations: Set<Int> = []
    private let done = DispatchSemaphore(value: 0)

    init(_ app: SupervisedApp) {
        Thread.detachNewThread { [self] in
            while !lock.withLock({ stopped }) {
                let answer = app.hit()
                lock.withLock {
                    if let answer {
                        ok += 1
                        if let g = answer["generation"] as? Int { generations.insert(g) }
                    } else {
                        failed += 1
                    }
                }
            }
            done.signal()
        }
    }

    /// Waits until `more` answers have come since this call: the load is flowing.
    func waitForAnswers(more: Int = 10, seconds: Double = 10) -> Bool {
        let target = lock.withLock { ok } + more
        return SupervisedApp.waitUntil(seconds) { lock.withLock { ok >= target } }
    }

    /// Waits until an answer came from generation `generation`.
    func waitForGeneration(_ generation: Int, seconds: Double = 10) -> Bool {
        SupervisedApp.waitUntil(seconds) { lock.withLock { generations.contains(generation) } }
    }

    /// Stops and returns the counts.
    func stop() -> (ok: Int, failed: Int, generations: Set<Int>) {
        lock.withLock { stopped = true }
        done.wait()
        return lock.withLock { (ok, failed, generations) }
    }
}
