import Glibc
import Logging
import SidecarPosix

/// `GET /app/workers`: the workers, the shared socket and the last rolling change.
package struct WorkersStatus: Sendable, Encodable {
    package struct LastExit: Sendable, Encodable {
        package var code: Int32?
        package var signal: Int32?
        package var at: String
        /// The supervisor asked for it (a reload replaced the worker, or it stopped): not a crash.
        package var expected: Bool
    }
    package struct Worker: Sendable, Encodable {
        package var id: Int
        package var pid: Int32?
        package var generation: Int
        package var state: String
        package var startedAt: String
        package var uptimeSeconds: Double
        package var restarts: Int
        package var crashLooping: Bool
        package var lastExit: LastExit?
        package var rssBytes: Int?
        package var cpuSeconds: Double?
        package var status: String?
    }
    package struct Socket: Sendable, Encodable {
        package var address: String
        /// Established connections on the socket's port.
        package var connections: Int
        /// Connections the kernel accepted that no worker has taken yet.
        package var acceptQueue: Int
        package var backlog: Int
    }
    package struct Change: Sendable, Encodable {
        /// `reload` or `replace`.
        package var kind: String
        package var worker: Int?
        /// Why a replacement was made: `request` or `memory`.
        package var reason: String?
        package var generation: Int
        /// `running`, `succeeded`, `rolled_back` or `cancelled`.
        package var result: String
        package var error: String?
        package var startedAt: String
        package var endedAt: String?
    }
    package var generation: Int
    package var command: [String]
    package var workers: [Worker]
    package var socket: Socket?
    /// The reload or replacement running now.
    package var running: Change?
    package var lastReload: Change?
    package var lastReplacement: Change?
    package var reloads: [String: Int]
    package var restarts: Int
}

extension Supervisor {
    /// The status, read on the loop (workers' figures from `/proc`, the socket's from the kernel).
    package func status(socketAddress: String?) async -> WorkersStatus {
        await onLoop { s in s.snapshot(socketAddress: socketAddress) }
    }

    /// Figures for metrics: workers by state, restarts, reloads by result.
    package func stats() async -> (states: [String: Int], restarts: Int, reloads: [String: Int]) {
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
                case .code(let c): WorkersStatus.LastExit(code: c, signal: nil, at: iso(e.at), expected: e.expected)
                case .signal(let s): WorkersStatus.LastExit(code: nil, signal: s, at: iso(e.at), expected: e.expected)
                }
            }
            return WorkersStatus.Worker(
                id: w.id, pid: w.pid, generation: w.generation, state: w.state.rawValue, startedAt: iso(w.startedAt),
                uptimeSeconds: ((now - w.startedAt).seconds * 1000).rounded() / 1000, restarts: slot.restarts,
                crashLooping: slot.crashLooping, lastExit: last, rssBytes: figures?.residentBytes, cpuSeconds: figures?.cpuSeconds,
                status: w.status)
        }
        var socket: WorkersStatus.Socket?
        if let fd = handover.sockets[m.generation] ?? launch.listener, let socketAddress {
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
