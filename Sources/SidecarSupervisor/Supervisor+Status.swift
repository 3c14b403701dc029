import Glibc
import Logging
import SidecarPosix

/// `GET /app/workers`: the workers, the shared socket and the last rolling change.
public struct WorkersStatus: Sendable, Encodable {
    public struct LastExit: Sendable, Encodable {
        public var code: Int32?
        public var signal: Int32?
        public var at: String
    }
    public struct Worker: Sendable, Encodable {
        public var id: Int
        public var pid: Int32?
        public var generation: Int
        public var state: String
        public var startedAt: String
        public var uptimeSeconds: Double
        public var restarts: Int
        public var crashLooping: Bool
        public var lastExit: LastExit?
        public var rssBytes: Int?
        public var cpuSeconds: Double?
        public var status: String?
    }
    public struct Socket: Sendable, Encodable {
        public var address: String
        /// Established connections on the socket's port.
        public var connections: Int
        /// Connections the kernel accepted that no worker has taken yet.
        public var acceptQueue: Int
        public var backlog: Int
    }
    public struct Change: Sendable, Encodable {
        /// `reload` or `replace`.
        public var kind: String
        public var worker: Int?
        /// Why a replacement was made: `request` or `memory`.
        public var reason: String?
        public var generation: Int
        /// `running`, `succeeded`, `rolled_back` or `cancelled`.
        public var result: String
        public var error: String?
        public var startedAt: String
        public var endedAt: String?
    }
    public var generation: Int
    public var command: [String]
    public var workers: [Worker]
    public var socket: Socket?
    /// The reload or replacement running now.
    public var running: Change?
    public var lastReload: Change?
    public var lastReplacement: Change?
    public var reloads: [String: Int]
    public var restarts: Int
}

extension Supervisor {
    /// The status, read on the loop (workers' figures from `/proc`, the socket's from the kernel).
    public func status(socketAddress: String?) async -> WorkersStatus {
        await onLoop { s in s.snapshot(socketAddress: socketAddress) }
    }

    /// Figures for metrics: workers by state, restarts, reloads by result.
    public func stats() async -> (states: [String: Int], restarts: Int, reloads: [String: Int]) {
        await onLoop { s in
            var states: [String: Int] = [:]
            for w in s.machine.workers { states[w.state.rawValue, default: 0] += 1 }
            return (states, s.machine.restartsTotal, s.reloadCounts)
        }
    }

    var reloadCounts: [String: Int] {
        var r: [String: Int] = [:]
        for result in [SupervisorMachine.Operation.Result.succeeded, .rolledBack, .cancelled] {
            r[result.rawValue] = machine.reloadResults[result] ?? 0
        }
        return r
    }

    func snapshot(socketAddress: String?) -> WorkersStatus {
        let m = machine
        let now = clock.now
        let workers = m.workers.sorted { ($0.id, $0.generation, $0.key) < ($1.id, $1.generation, $1.key) }.map {
            w -> WorkersStatus.Worker in
            let slot = m.slots[w.id]
            let figures = w.pid.flatMap { ProcStat.read(pid: $0) }
            let last = slot.lastExit.map { e -> WorkersStatus.LastExit in
                switch e.reason {
                case .code(let c): WorkersStatus.LastExit(code: c, signal: nil, at: iso(e.at))
                case .signal(let s): WorkersStatus.LastExit(code: nil, signal: s, at: iso(e.at))
                }
            }
            return WorkersStatus.Worker(
                id: w.id, pid: w.pid, generation: w.generation, state: w.state.rawValue, startedAt: iso(w.startedAt),
                uptimeSeconds: ((now - w.startedAt).seconds * 1000).rounded() / 1000, restarts: slot.restarts,
                crashLooping: slot.crashLooping, lastExit: last, rssBytes: figures?.residentBytes, cpuSeconds: figures?.cpuSeconds,
                status: w.status)
        }
        var socket: WorkersStatus.Socket?
        if let fd = launch.listener, let socketAddress {
            let queue = ListenerSocketStats.acceptQueue(fd)
            let port = (try? Socket.boundPort(fd)) ?? 0
            socket = .init(
                address: socketAddress, connections: ListenerSocketStats.established(port: port), acceptQueue: queue?.waiting ?? 0,
                backlog: queue?.backlog ?? 0)
        }
        return WorkersStatus(
            generation: m.generation, command: launch.command, workers: workers, socket: socket, running: m.operation.map(change),
            lastReload: m.lastReload.map(change), lastReplacement: m.lastReplacement.map(change), reloads: reloadCounts,
            restarts: m.restartsTotal)
    }

    func change(_ op: SupervisorMachine.Operation) -> WorkersStatus.Change {
        var c = WorkersStatus.Change(
            kind: "reload", worker: nil, reason: nil, generation: op.generation, result: op.result.rawValue, error: op.error,
            startedAt: iso(op.startedAt), endedAt: op.endedAt.map(iso))
        if case .replace(let id, let reason) = op.kind { (c.kind, c.worker, c.reason) = ("replace", id, reason) }
        return c
    }

    func iso(_ instant: MonotonicInstant) -> String { WallClock.iso(clock.wallTime(of: instant)) }

    /// One log line per event; crash loops and rollbacks loudly.
    func report(_ event: SupervisorMachine.Event) {
        switch event {
        case .ready(let id, let pid, let generation):
            logger.info("worker ready", metadata: ["worker": "\(id)", "pid": "\(pid)", "generation": "\(generation)"])
        case .exited(let id, let pid, let reason, let expected):
            let meta: Logger.Metadata = ["worker": "\(id)", "pid": "\(pid)", "exit": "\(reason)"]
            if expected { logger.info("worker exited", metadata: meta) } else { logger.error("worker exited unasked", metadata: meta) }
        case .respawning(let id, let after):
            logger.warning("respawning worker", metadata: ["worker": "\(id)", "after_ms": "\(after.nanoseconds / 1_000_000)"])
        case .crashLooping(let id, let deaths):
            logger.critical(
                "worker is crash-looping: it keeps exiting before it is ready",
                metadata: ["worker": "\(id)", "deaths_in_a_row": "\(deaths)"])
        case .notReadyInTime(let id, let pid):
            logger.error("worker not ready within APP_READY_TIMEOUT", metadata: ["worker": "\(id)", "pid": "\(pid)"])
        case .killed(let id, let pid):
            logger.warning("worker killed: still running after APP_STOP_TIMEOUT", metadata: ["worker": "\(id)", "pid": "\(pid)"])
        case .operationStarted(let op):
            let c = change(op)
            logger.notice(
                "\(c.kind) started", metadata: ["generation": "\(c.generation)", "worker": "\(c.worker.map(String.init) ?? "all")"])
        case .operationEnded(let op):
            let c = change(op)
            let meta: Logger.Metadata = [
                "generation": "\(c.generation)", "result": "\(c.result)", "worker": "\(c.worker.map(String.init) ?? "all")",
            ]
            if op.result == .succeeded {
                logger.notice("\(c.kind) done", metadata: meta)
            } else {
                logger.error(
                    "\(c.kind) \(c.result == "cancelled" ? "cancelled" : "failed: rolled back")",
                    metadata: meta.merging(["reason": "\(c.error ?? "shutdown")"]) { a, _ in a })
            }
        case .allStopped:
            logger.info("every worker has stopped")
        }
    }
}
