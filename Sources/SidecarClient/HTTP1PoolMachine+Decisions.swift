import SidecarPosix

extension HTTP1PoolMachine {
    /// Ends the request with `cancelled` (nothing when it ended already); a connection carrying
    /// it closes, since its answer may still come.
    package func cancel(_ r: Request, now: MonotonicInstant) {
        time = now.nanoseconds
        guard !r.finished else { return }
        heap.remove(r)
        guard let c = r.connection else { return end(r, .cancelled) }
        fail(c, .cancelled)
    }

    /// Gives `r` a connection: an idle one of its node, a new one, or a place in a queue.
    func assign(_ r: Request) {
        let pool = r.pool
        if let c = pool.idle.popLast() {
            idleCount -= 1
            attach(r, c)
            c.phase = .busy
            actions.append(.send(c.id, r))
            return
        }
        guard pool.open < limits.maxConnectionsPerNode else { return pool.waiting.append(r) }
        if openConnections >= limits.maxConnections && !closeAnyIdle() { return starved.append(r) }
        let id = freeIDs.popLast() ?? connections.count
        let c = Connection(id: id, pool: pool, phase: .connecting(deadline: time &+ UInt64(max(0, limits.connectTimeout.nanoseconds))))
        if id == connections.count { connections.append(c) } else { connections[id] = c }
        pool.open += 1
        connecting.append(c)
        attach(r, c)
        actions.append(.connect(c.id, r))
    }

    func connection(_ id: ConnectionID) -> Connection? { id >= 0 && id < connections.count ? connections[id] : nil }

    func attach(_ r: Request, _ c: Connection) {
        r.connection = c
        c.request = r
    }

    /// Ends `c`'s request, if any, with `error` and closes `c`.
    func fail(_ c: Connection, _ error: ClientError) {
        let r = c.request
        c.request = nil
        closeConnection(c)
        if let r { end(r, error) }
        serveWaiting(c.pool)
    }

    /// Reports that `r` ended without an answer, once.
    func end(_ r: Request, _ error: ClientError) {
        guard !r.finished else { return }
        retire(r)
        actions.append(.fail(r, error))
    }

    /// `r` has its outcome: it leaves its connection and the deadline heap.
    func retire(_ r: Request) {
        r.finished = true
        r.connection = nil
        heap.remove(r)
    }

    func closeConnection(_ c: Connection) {
        guard connection(c.id) === c else { return }
        connections[c.id] = nil
        freeIDs.append(c.id)
        c.pool.open -= 1
        if case .idle = c.phase, let k = c.pool.idle.firstIndex(where: { $0 === c }) {
            c.pool.idle.remove(at: k)
            idleCount -= 1
        }
        c.phase = .closed
        actions.append(.close(c.id))
    }

    /// A connection of `pool` closed: the next waiting request may open one.
    func serveWaiting(_ pool: Pool) {
        if !closed, pool.open < limits.maxConnectionsPerNode, let next = pool.waiting.next() { assign(next) }
        serveStarved()
    }

    func serveStarved() {
        while !closed, openConnections < limits.maxConnections || idleCount > 0, let r = starved.next() { assign(r) }
    }

    /// Closes one idle connection of any node, to make room under `maxConnections`.
    func closeAnyIdle() -> Bool {
        guard idleCount > 0 else { return false }
        for pool in pools.values {
            if let c = pool.idle.first {
                closeConnection(c)
                return true
            }
        }
        return false
    }

    func pool(for node: Node) -> Pool {
        if let p = pools[node] { return p }
        let p = Pool(node: node)
        if pools.isEmpty && idleCount == 0 { nextSweep = time &+ sweepInterval }
        pools[node] = p
        return p
    }

    /// The oldest connection still connecting, and its connect deadline; skips (and in time
    /// forgets) those that connected or closed since.
    func firstConnecting() -> (Connection, UInt64)? {
        while connectingHead < connecting.count {
            let c = connecting[connectingHead]
            if case .connecting(let d) = c.phase { return (c, d) }
            connectingHead += 1
        }
        if connectingHead > 0 {
            connecting.removeAll(keepingCapacity: true)
            connectingHead = 0
        }
        return nil
    }

    var sweepInterval: UInt64 { UInt64(max(1_000_000, limits.idleTimeout.nanoseconds / 4)) }

    /// Closes connections idle too long, and forgets pools with nothing open or waiting; never
    /// while a request is starved (it holds its pool and will need it in the table).
    func sweep() {
        let limit = UInt64(max(0, limits.idleTimeout.nanoseconds))
        for pool in pools.values {
            for c in pool.idle {
                if case .idle(let since) = c.phase, time &- since >= limit {
                    closeConnection(c)
                    serveWaiting(pool)
                }
            }
        }
        if starved.isEmpty { pools = pools.filter { !$0.value.isUnused } }
        nextSweep = time &+ sweepInterval
    }
}
