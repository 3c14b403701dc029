import Glibc
import SidecarPosix

/// Reloads, replacements and shutdown: the rolling changes. At most one runs at a time; a
/// second is refused (`Refusal.busy`), never queued.
extension SupervisorMachine {
    /// A rolling restart: a whole new generation starts; once every new worker is ready the
    /// old ones are stopped. A new worker that exits or is not ready within the ready timeout
    /// rolls it back: the new generation is stopped and the old one keeps serving.
    package mutating func reload(now: MonotonicInstant) -> Result<(Operation, [Action]), Refusal> {
        if let refusal = refusal() { return .failure(refusal) }
        let g = nextGeneration
        nextGeneration += 1
        var op = Operation(kind: .reload, generation: g, startedAt: now)
        var actions: [Action] = []
        for id in slots.indices {
            let spawnAction = spawn(id: id, generation: g, now: now)
            if case .spawn(let key, _, _) = spawnAction { op.incoming.insert(key) }
            actions.append(spawnAction)
        }
        operation = op
        return .success((op, [.report(.operationStarted(op))] + actions))
    }

    /// Replaces worker `id` (asked through the local API, or for its memory): its successor
    /// starts, and once ready the old one is stopped; if the successor fails, the old one stays.
    package mutating func replace(id: Int, reason: String, now: MonotonicInstant) -> Result<(Operation, [Action]), Refusal> {
        guard slots.indices.contains(id) else { return .failure(.noSuchWorker(id)) }
        if let refusal = refusal() { return .failure(refusal) }
        guard let current = workers.first(where: { $0.id == id && $0.pid != nil && ($0.state == .ready || $0.state == .starting) }) else {
            return .failure(.notRunning(id))
        }
        var op = Operation(kind: .replace(id: id, reason: reason), generation: current.generation, startedAt: now)
        let spawnAction = spawn(id: id, generation: current.generation, now: now)
        if case .spawn(let key, _, _) = spawnAction { op.incoming.insert(key) }
        operation = op
        return .success((op, [.report(.operationStarted(op)), spawnAction]))
    }

    /// SIGTERM to every worker, SIGKILL after the stop timeout; no more respawns. A reload
    /// running is cancelled.
    package mutating func shutdown(now: MonotonicInstant) -> [Action] {
        guard !shuttingDown else { return [] }
        shuttingDown = true
        var actions: [Action] = []
        if var op = operation {
            op.result = .cancelled
            op.endedAt = now
            actions += finish(op)
        }
        for key in workers.map(\.key) {
            guard let k = index(key: key) else { continue }
            if workers[k].pid == nil {
                workers[k].state = .exited
                workers[k].deadline = nil
            } else {
                actions += stop(k, now: now)
            }
        }
        if isStopped { actions.append(.report(.allStopped)) }
        return actions
    }

    // MARK: parts

    func refusal() -> Refusal? {
        if shuttingDown { return .shuttingDown }
        if let operation { return .busy(operation) }
        return nil
    }

    /// Every incoming worker is ready: stop what they replace.
    mutating func complete(now: MonotonicInstant) -> [Action] {
        guard var op = operation else { return [] }
        var actions: [Action] = []
        for key in workers.map(\.key) {
            guard let k = index(key: key) else { continue }
            let w = workers[k]
            let inScope: Bool
            switch op.kind {
            case .reload: inScope = true
            case .replace(let id, _): inScope = w.id == id
            }
            guard inScope, !op.incoming.contains(w.key), w.state != .stopping else { continue }
            if case .replace = op.kind { slots[w.id].restarts += 1 }
            actions += stop(k, now: now)
        }
        if case .reload = op.kind { generation = op.generation }
        op.result = .succeeded
        op.endedAt = now
        return actions + finish(op)
    }

    /// An incoming worker failed: stop the incoming ones, keep the others serving.
    mutating func rollBack(_ why: String, now: MonotonicInstant) -> [Action] {
        guard var op = operation else { return [] }
        var actions: [Action] = []
        for key in op.incoming {
            if let k = index(key: key) { actions += stop(k, now: now) }
        }
        op.result = .rolledBack
        op.error = why
        op.endedAt = now
        return actions + finish(op)
    }

    mutating func finish(_ op: Operation) -> [Action] {
        operation = nil
        switch op.kind {
        case .reload:
            lastReload = op
            reloadResults[op.result, default: 0] += 1
        case .replace:
            lastReplacement = op
        }
        return [.report(.operationEnded(op))]
    }
}
