import Glibc
import SidecarPosix

/// The supervisor's decisions, without a process or a clock of its own: events come in with
/// the time they happened (a worker started, said `READY=1`, exited; a deadline passed; a
/// reload was asked for) and actions go out (start a worker, signal one, report). The shell
/// (`Supervisor`) carries the actions out and feeds back what follows; tests drive it with
/// a manual clock.
///
/// Workers are numbered by slot (`id`, 0 to `workers` - 1, stable across restarts); each
/// process in a slot is a `Worker` with a key of its own. During a reload or a replacement a
/// slot holds two: the serving one and its incoming successor.
package struct SupervisorMachine: Sendable {
    /// A worker process's state, as status shows it.
    package enum State: String, Sendable, Codable, CaseIterable {
        case starting, ready, stopping, exited, backoff
    }

    /// One worker process (or, in `backoff`, the place of one waiting to be started again).
    package struct Worker: Sendable, Equatable {
        /// This process's own number (unique for the machine's life).
        package let key: Int
        /// Its slot: `APP_WORKER_ID`.
        package let id: Int
        package let generation: Int
        /// nil before the spawn and once it has exited.
        package internal(set) var pid: pid_t?
        package internal(set) var state: State
        package internal(set) var startedAt: MonotonicInstant
        package internal(set) var readyAt: MonotonicInstant?
        /// The last `STATUS=` it sent.
        package internal(set) var status: String?
        /// Readiness or its timeout (starting), SIGKILL (stopping), the respawn (backoff).
        var deadline: MonotonicInstant?
        /// Stopped for failing to become ready: started again after the backoff once it exits.
        var respawnOnExit = false
        var killed = false
    }

    /// What a slot keeps across its processes.
    package struct Slot: Sendable, Equatable {
        /// Workers started in this slot to replace one (respawns and replacements).
        package internal(set) var restarts = 0
        /// How the slot's last worker ended; `expected` when the supervisor asked it to (a reload
        /// replaced it, or the supervisor stops), so that it does not read as a crash.
        package internal(set) var lastExit: (reason: ExitReason, at: MonotonicInstant, expected: Bool)?
        /// Died `crashLoopDeaths` times in a row before becoming ready.
        package internal(set) var crashLooping = false
        var attempt = 0
        var deathsBeforeReady = 0

        package static func == (a: Slot, b: Slot) -> Bool {
            a.restarts == b.restarts && a.crashLooping == b.crashLooping && a.lastExit?.reason == b.lastExit?.reason
                && a.lastExit?.at == b.lastExit?.at && a.lastExit?.expected == b.lastExit?.expected && a.attempt == b.attempt
                && a.deathsBeforeReady == b.deathsBeforeReady
        }
    }

    /// A rolling change: a reload (a whole new generation) or one worker's replacement.
    package struct Operation: Sendable, Equatable {
        package enum Kind: Sendable, Equatable {
            case reload
            /// `reason`: `request` (the local API) or `memory` (`APP_MAX_MEMORY`).
            case replace(id: Int, reason: String)
        }
        package enum Result: String, Sendable {
            case running, succeeded
            case rolledBack = "rolled_back"
            case cancelled
        }
        package let kind: Kind
        /// The generation the incoming workers belong to.
        package let generation: Int
        package internal(set) var result = Result.running
        /// Why it was rolled back.
        package internal(set) var error: String?
        package let startedAt: MonotonicInstant
        package internal(set) var endedAt: MonotonicInstant?
        var incoming: Set<Int> = []
    }

    /// What the shell must do, in order.
    package enum Action: Sendable, Equatable {
        /// Start a worker for slot `id` of `generation`, then call `spawned` (or `spawnFailed`).
        case spawn(key: Int, id: Int, generation: Int)
        /// Send `signal` to the worker `pid` (and its process group).
        case signal(pid: pid_t, signal: Int32)
        /// Report it (log, metrics).
        case report(Event)
    }

    /// What happened, for logs.
    package enum Event: Sendable, Equatable {
        case ready(id: Int, pid: pid_t, generation: Int)
        case exited(id: Int, pid: pid_t, reason: ExitReason, expected: Bool)
        case respawning(id: Int, after: Duration)
        case crashLooping(id: Int, deaths: Int)
        case notReadyInTime(id: Int, pid: pid_t)
        case killed(id: Int, pid: pid_t)
        case operationStarted(Operation)
        case operationEnded(Operation)
        case allStopped
    }

    /// Why a reload or replacement was not started.
    package enum Refusal: Error, Sendable, Equatable {
        /// Another one runs (the local API answers 409).
        case busy(Operation)
        case shuttingDown
        case noSuchWorker(Int)
        /// The slot has no process to replace (it waits for its respawn).
        case notRunning(Int)
    }

    package let settings: SupervisorSettings
    package internal(set) var workers: [Worker] = []
    package internal(set) var slots: [Slot]
    /// The generation serving (the last whose reload succeeded).
    package internal(set) var generation = 0
    package internal(set) var operation: Operation?
    /// The last reload that ended.
    package internal(set) var lastReload: Operation?
    /// The last replacement that ended.
    package internal(set) var lastReplacement: Operation?
    /// Reloads that ended, by result.
    package internal(set) var reloadResults: [Operation.Result: Int] = [:]
    /// Every slot has had a ready worker (registration waits for it).
    package internal(set) var firstGenerationReady = false
    package internal(set) var shuttingDown = false
    var nextGeneration = 1
    var nextKey = 0

    package init(settings: SupervisorSettings) {
        self.settings = settings
        slots = Array(repeating: Slot(), count: max(1, settings.workers))
    }

    // MARK: queries

    /// Some worker is ready: the sidecar may be in rotation.
    package var anyReady: Bool { workers.contains { $0.state == .ready } }
    /// Shutting down and no process left.
    package var isStopped: Bool { shuttingDown && workers.allSatisfy { $0.pid == nil } }
    /// When `tick` is next due.
    package var nextDeadline: MonotonicInstant? { workers.compactMap(\.deadline).min() }
    /// Respawns and replacements, all slots.
    package var restartsTotal: Int { slots.reduce(0) { $0 + $1.restarts } }

    /// The worker whose process is `pid`.
    package func worker(pid: pid_t) -> Worker? { workers.first { $0.pid == pid } }

    // MARK: events

    /// Starts the first generation.
    package mutating func start(now: MonotonicInstant) -> [Action] {
        generation = nextGeneration
        nextGeneration += 1
        return slots.indices.map { spawn(id: $0, generation: generation, now: now) }
    }

    /// The worker `key` runs as `pid`.
    package mutating func spawned(key: Int, pid: pid_t) {
        if let k = index(key: key) { workers[k].pid = pid }
    }

    /// The worker `key` could not be started: as if it had exited with 127 at once.
    package mutating func spawnFailed(key: Int, now: MonotonicInstant) -> [Action] {
        guard let k = index(key: key) else { return [] }
        workers[k].pid = 0
        return ended(k, .code(127), now: now)
    }

    /// A message on `NOTIFY_SOCKET` from worker `pid`: `READY=1` makes a starting worker ready,
    /// `STATUS=` is kept for status.
    package mutating func notified(pid: pid_t, fields: [(String, String)], now: MonotonicInstant) -> [Action] {
        guard let k = workers.firstIndex(where: { $0.pid == pid }) else { return [] }
        // STATUS first: becoming ready may end a reload, which drops other entries and so
        // moves this one's index.
        for (key, value) in fields where key == "STATUS" { workers[k].status = value }
        guard fields.contains(where: { $0 == ("READY", "1") }), workers[k].state == .starting else { return [] }
        return markReady(k, now: now)
    }

    /// The process `pid` exited (any child: others are ignored).
    package mutating func exited(pid: pid_t, reason: ExitReason, now: MonotonicInstant) -> [Action] {
        guard pid > 0, let k = workers.firstIndex(where: { $0.pid == pid }) else { return [] }
        return ended(k, reason, now: now)
    }

    /// Deadlines up to `now`: readiness by time, ready timeouts, SIGKILL after the stop
    /// timeout, respawns after their backoff.
    package mutating func tick(now: MonotonicInstant) -> [Action] {
        var actions: [Action] = []
        for key in workers.map(\.key) {
            guard let k = index(key: key), let due = workers[k].deadline, due <= now else { continue }
            let w = workers[k]
            switch w.state {
            case .starting:
                if case .after(let wait) = settings.readiness, wait < settings.readyTimeout, now >= w.startedAt + wait {
                    actions += markReady(k, now: now)
                } else if now >= w.startedAt + settings.readyTimeout {
                    actions.append(.report(.notReadyInTime(id: w.id, pid: w.pid ?? 0)))
                    if operation?.incoming.contains(w.key) == true {
                        actions += rollBack(
                            "worker \(w.id) of generation \(w.generation) was not ready within \(settings.readyTimeout.secondsText)",
                            now: now)
                    } else {
                        actions += stop(k, now: now, respawn: true)
                    }
                } else {
                    workers[k].deadline = startingDeadline(w.startedAt)
                }
            case .stopping:
                workers[k].deadline = nil
                if let pid = w.pid, !w.killed {
                    workers[k].killed = true
                    actions += [.signal(pid: pid, signal: SIGKILL), .report(.killed(id: w.id, pid: pid))]
                }
            case .backoff:
                workers.remove(at: k)
                slots[w.id].restarts += 1
                actions.append(spawn(id: w.id, generation: w.generation, now: now))
            case .ready, .exited:
                workers[k].deadline = nil
            }
        }
        return actions
    }

    // MARK: parts

    func index(key: Int) -> Int? { workers.firstIndex { $0.key == key } }

    /// When a starting worker's readiness is next decided.
    func startingDeadline(_ startedAt: MonotonicInstant) -> MonotonicInstant {
        let timeout = startedAt + settings.readyTimeout
        if case .after(let wait) = settings.readiness, wait < settings.readyTimeout { return startedAt + wait }
        return timeout
    }

    mutating func spawn(id: Int, generation: Int, now: MonotonicInstant) -> Action {
        let key = nextKey
        nextKey += 1
        workers.append(
            Worker(key: key, id: id, generation: generation, pid: nil, state: .starting, startedAt: now, deadline: startingDeadline(now)))
        return .spawn(key: key, id: id, generation: generation)
    }

    mutating func markReady(_ k: Int, now: MonotonicInstant) -> [Action] {
        workers[k].state = .ready
        workers[k].readyAt = now
        workers[k].deadline = nil
        let w = workers[k]
        slots[w.id].deathsBeforeReady = 0
        slots[w.id].crashLooping = false
        var actions: [Action] = [.report(.ready(id: w.id, pid: w.pid ?? 0, generation: w.generation))]
        if !firstGenerationReady, slots.indices.allSatisfy({ id in workers.contains { $0.id == id && $0.state == .ready } }) {
            firstGenerationReady = true
        }
        if let op = operation, op.incoming.contains(w.key),
            op.incoming.allSatisfy({ key in workers.first { $0.key == key }?.state == .ready })
        {
            actions += complete(now: now)
        }
        return actions
    }

    /// SIGTERM now, SIGKILL after the stop timeout; a worker not running is dropped.
    mutating func stop(_ k: Int, now: MonotonicInstant, respawn: Bool = false) -> [Action] {
        guard let pid = workers[k].pid, workers[k].state != .exited else {
            workers.remove(at: k)
            return []
        }
        guard workers[k].state != .stopping else { return [] }
        workers[k].state = .stopping
        workers[k].deadline = now + settings.stopTimeout
        workers[k].respawnOnExit = respawn
        return [.signal(pid: pid, signal: SIGTERM)]
    }

    /// Worker `k` exited: dropped when it was asked to stop, the reload it belonged to rolled
    /// back, or started again after the backoff.
    mutating func ended(_ k: Int, _ reason: ExitReason, now: MonotonicInstant) -> [Action] {
        let w = workers[k]
        let pid = w.pid ?? 0
        let asked = w.state == .stopping && !w.respawnOnExit
        slots[w.id].lastExit = (reason, now, asked || shuttingDown)
        var actions: [Action] = [.report(.exited(id: w.id, pid: pid, reason: reason, expected: asked || shuttingDown))]
        if shuttingDown {
            workers[k].pid = nil
            workers[k].state = .exited
            workers[k].deadline = nil
            if isStopped { actions.append(.report(.allStopped)) }
            return actions
        }
        if operation?.incoming.contains(w.key) == true && w.state != .stopping {
            workers.remove(at: k)
            return actions + rollBack("worker \(w.id) of generation \(w.generation) exited (\(reason)) before the reload ended", now: now)
        }
        if asked {
            workers.remove(at: k)
            return actions
        }
        // Unasked: started again after the backoff.
        var slot = slots[w.id]
        if now - w.startedAt >= settings.backoff.resetAfter { slot.attempt = 0 }
        slot.deathsBeforeReady = w.readyAt == nil ? slot.deathsBeforeReady + 1 : 0
        let delay = settings.backoff.delay(attempt: slot.attempt)
        slot.attempt += 1
        if slot.deathsBeforeReady >= settings.crashLoopDeaths && !slot.crashLooping {
            slot.crashLooping = true
            actions.append(.report(.crashLooping(id: w.id, deaths: slot.deathsBeforeReady)))
        }
        slots[w.id] = slot
        workers[k] = Worker(
            key: w.key, id: w.id, generation: w.generation, pid: nil, state: .backoff, startedAt: w.startedAt, deadline: now + delay)
        actions.append(.report(.respawning(id: w.id, after: delay)))
        return actions
    }
}

extension Duration {
    /// `30s`, `0.5s`.
    var secondsText: String {
        let s = seconds
        return s == s.rounded() ? "\(Int(s))s" : "\(s)s"
    }
}
