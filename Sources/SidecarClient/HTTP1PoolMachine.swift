import SidecarPosix

/// The decisions of our own client, without a socket or a clock (async-http-client's pool
/// machine, in small): which connection a request goes on (an idle one of its node, a new one,
/// or a place in a queue), when a request is sent once more, when a request or a connect times
/// out, and which connections close (idle too long, the node closed them, or room is needed).
///
/// The shell (`HTTP1Engine`) tells it what happened, with the time, and carries out the
/// `actions` each event leaves, in order: it opens, sends on and closes connections, and
/// reports failures. Answers are the shell's to hand over (it holds them); the machine only
/// learns that one came. Confined to one thread, like its shell.
package final class HTTP1PoolMachine<Node: Hashable, Ticket> {
    /// A connection's name between the machine and its shell (also the shell's epoll token).
    package typealias ConnectionID = Int

    /// The caps and times the machine decides by.
    package struct Limits: Sendable {
        /// Most connections open at once, over every node.
        package var maxConnections: Int
        /// Most connections open at once to one node; further requests queue for one.
        package var maxConnectionsPerNode: Int
        /// Longest a connect may take (a `connect` failure after it).
        package var connectTimeout: Duration
        /// How long an unused connection stays open.
        package var idleTimeout: Duration

        package init(maxConnections: Int, maxConnectionsPerNode: Int, connectTimeout: Duration, idleTimeout: Duration) {
            self.maxConnections = max(1, maxConnections)
            self.maxConnectionsPerNode = max(1, maxConnectionsPerNode)
            self.connectTimeout = connectTimeout
            self.idleTimeout = idleTimeout
        }
    }

    /// What the shell must do next.
    package enum Action {
        /// Open connection `id` to the request's node, then send the request on it.
        case connect(ConnectionID, Request)
        /// Send the request on connection `id`, which is open and carries nothing.
        case send(ConnectionID, Request)
        /// Close connection `id`; it carries no request any more (a later action may name the
        /// same id for a new connection).
        case close(ConnectionID)
        /// The request ended without an answer.
        case fail(Request, ClientError)
    }

    /// Actions left by the events so far, oldest first; the shell takes them with `takeAction`.
    package internal(set) var actions: [Action] = []
    var taken = 0
    let limits: Limits
    var pools: [Node: Pool] = [:]
    /// Connections by id; ids of closed ones are reused (`freeIDs`), so the table stays as
    /// small as the most connections ever open at once.
    var connections: [Connection?] = []
    var freeIDs: [ConnectionID] = []
    var heap = DeadlineHeap<Request>()
    /// Connections still connecting, in the order they started (so by connect deadline).
    var connecting: [Connection] = []
    var connectingHead = 0
    /// Requests that found every connection in use, in order.
    var starved = Queue()
    var idleCount = 0
    var nextSweep: UInt64 = 0
    var closed = false
    /// The time of the event being handled, in nanoseconds.
    var time: UInt64 = 0

    package init(limits: Limits) { self.limits = limits }

    /// Connections open or opening: every id in use.
    package var openConnections: Int { connections.count - freeIDs.count }

    /// Nodes the machine keeps a pool for.
    package var pooledNodes: Int { pools.count }

    /// The next action to carry out, or nil when all are done (the list is then emptied).
    package func takeAction() -> Action? {
        guard taken < actions.count else {
            if taken > 0 {
                actions.removeAll(keepingCapacity: true)
                taken = 0
            }
            return nil
        }
        taken += 1
        return actions[taken - 1]
    }

    /// When `fire` is next due, or nil.
    package var deadline: MonotonicInstant? {
        var due = heap.first?.deadline ?? .max
        if let (_, d) = firstConnecting() { due = min(due, d) }
        if idleCount > 0 || !pools.isEmpty { due = min(due, nextSweep) }
        return due == .max ? nil : MonotonicInstant(nanoseconds: due)
    }

    // MARK: Events

    /// A request for `node` that must end by `now + timeout`.
    @discardableResult
    package func start(_ ticket: Ticket, node: Node, timeout: Duration, now: MonotonicInstant) -> Request {
        time = now.nanoseconds
        let r = Request(ticket: ticket, pool: pool(for: node), deadline: time &+ UInt64(max(1, timeout.nanoseconds)))
        guard !closed else {
            end(r, .shutdown)
            return r
        }
        heap.insert(r)
        assign(r)
        return r
    }

    /// Connection `id` connected: its request goes out.
    package func connected(_ id: ConnectionID) {
        guard let c = connection(id), case .connecting = c.phase else { return }
        c.phase = .busy
    }

    /// Connection `id` could not connect.
    package func connectFailed(_ id: ConnectionID, _ error: ClientError, now: MonotonicInstant) {
        time = now.nanoseconds
        guard let c = connection(id) else { return }
        fail(c, error)
    }

    /// The answer on connection `id` is whole and handed over by the shell; `reusable` when
    /// the connection may carry another request (kept alive, nothing extra read).
    package func answered(_ id: ConnectionID, reusable: Bool, now: MonotonicInstant) {
        time = now.nanoseconds
        guard let c = connection(id), let r = c.request else { return }
        c.request = nil
        c.reused = true
        retire(r)
        guard reusable && !closed else {
            closeConnection(c)
            return serveWaiting(c.pool)
        }
        if let next = c.pool.waiting.next() {
            attach(next, c)
            c.phase = .busy
            actions.append(.send(c.id, next))
            return
        }
        c.phase = .idle(since: time)
        if idleCount == 0 { nextSweep = time &+ sweepInterval }
        idleCount += 1
        c.pool.idle.append(c)
        serveStarved()
    }

    /// Connection `id` failed with `error` while its request went out or its answer came
    /// (`answerBegan`: some of the answer had arrived). A kept-alive connection that failed by
    /// `io` before any byte of the answer may just have been closed by the node while idle:
    /// its request is sent once more, on a new connection (libcurl does the same).
    package func failed(_ id: ConnectionID, _ error: ClientError, answerBegan: Bool, now: MonotonicInstant) {
        time = now.nanoseconds
        guard let c = connection(id) else { return }
        guard let r = c.request, error.code == .io, c.reused, !answerBegan, !r.resent, !closed else { return fail(c, error) }
        r.resent = true
        c.request = nil
        r.connection = nil
        closeConnection(c)
        assign(r)
        serveWaiting(c.pool)
    }

    /// Idle connection `id` became readable: the node closed it (or spoke out of turn).
    package func closedByNode(_ id: ConnectionID, now: MonotonicInstant) {
        time = now.nanoseconds
        guard let c = connection(id) else { return }
        guard c.request == nil else { return failed(id, .io, answerBegan: false, now: now) }
        closeConnection(c)
        serveWaiting(c.pool)
    }

    /// Time passed: requests past their deadline fail with `timeout`, connects past theirs with
    /// `connect`, connections idle for the idle timeout close, and nodes with nothing open or
    /// waiting are forgotten (nodes come and go with the cluster: pools must not pile up).
    package func fire(now: MonotonicInstant) {
        time = now.nanoseconds
        while let r = heap.first, r.deadline <= time {
            heap.remove(r)
            if let c = r.connection {
                if case .connecting = c.phase { fail(c, ClientError(.timeout, "timed out connecting")) } else { fail(c, .timeout) }
            } else {
                end(r, .timeout)
            }
        }
        while let (c, d) = firstConnecting(), d <= time {
            connectingHead += 1
            fail(c, ClientError(.connect, "connect timed out after \(limits.connectTimeout)"))
        }
        if (idleCount > 0 || !pools.isEmpty) && nextSweep <= time { sweep() }
    }

    /// Ends every request with `shutdown` and closes every connection; later requests fail at once.
    package func shutdown() {
        guard !closed else { return }
        closed = true
        for case let c? in connections {
            if let r = c.request { end(r, .shutdown) }
            closeConnection(c)
        }
        for pool in pools.values { while let r = pool.waiting.next() { end(r, .shutdown) } }
        while let r = starved.next() { end(r, .shutdown) }
        pools.removeAll()
    }
}
