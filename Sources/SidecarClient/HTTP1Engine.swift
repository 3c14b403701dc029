import CSidecarSystem
import Glibc
import SidecarHTTP
import SidecarPosix

/// Our own HTTP/1.1 client for `http://` nodes, on a reactor's epoll and thread: non-blocking
/// connects with a timeout, one gathered write per request, answers read into one buffer and
/// parsed by `HTTPResponseParser`, connections kept alive per node (at most
/// `maxConnectionsPerHost` each, `maxConnections` in all, closed after `idleTimeout` unused or
/// as soon as the node closes them).
///
/// Confined to its reactor's thread (asserted in debug builds); outcomes reach the sinks there.
package final class HTTP1Engine: ReactorSource {
    private unowned let reactor: any Reactor
    private let configuration: ClientConfiguration
    private var pools: [SocketAddress: HTTP1Pool] = [:]
    private var connections: [Int32: HTTP1Connection] = [:]
    private var heap = DeadlineHeap()
    /// Connections still connecting, in the order they started (so by connect deadline).
    private var connecting: [HTTP1Connection] = []
    private var connectingHead = 0
    /// Requests that found every connection of the engine in use, in order.
    private var starved: [HTTP1Exchange] = []
    private var idleCount = 0
    private var nextSweep: UInt64 = 0
    /// Node URLs already read (nil: not ours, libcurl's), bounded.
    private var addresses: [String: NodeAddress?] = [:]
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    private var closed = false

    /// The engine `reactor` keeps under `key`, made on first use (on the reactor's thread).
    package static func attached(to reactor: any Reactor, key: ObjectIdentifier, configuration: ClientConfiguration) -> HTTP1Engine {
        reactor.local(key) { HTTP1Engine(configuration: configuration, reactor: reactor) }
    }

    /// An engine whose sockets `reactor` watches (host it there, or make it through `attached`).
    package init(configuration: ClientConfiguration, reactor: any Reactor) {
        self.reactor = reactor
        self.configuration = configuration
    }

    deinit { buffer.deallocate() }

    /// `url` read for this engine, or nil when libcurl must serve it (remembered per URL).
    package func node(_ url: String) -> NodeAddress? {
        if let known = addresses[url] { return known }
        if addresses.count >= 4096 { addresses.removeAll(keepingCapacity: true) }
        let parsed = NodeAddress(url)
        addresses[url] = .some(parsed)
        return parsed
    }

    /// Connections open now (for tests).
    package var openConnections: Int { connections.count }

    /// Nodes the engine keeps a pool for (for tests).
    package var pooledNodes: Int { pools.count }

    /// Sends `batch` to `node`; `sink.finished(index, result)` runs once, on this thread
    /// (already during this call when it fails at once).
    package func start(_ batch: HTTP1Batch, index: Int, node: NodeAddress, sink: any HTTP1Sink) {
        reactor.assertInLoop()
        guard !closed else { return sink.finished(index, .failure(.shutdown)) }
        let now = csidecar_monotonic_ns()
        let timeout = batch.timeout ?? configuration.requestTimeout
        let x = HTTP1Exchange(
            sink: sink, index: index, batch: batch, line: batch.requestLine(node), pool: pool(for: node.address), started: now,
            deadline: now &+ UInt64(max(1, timeout.nanoseconds)))
        heap.insert(x)
        assign(x)
    }

    // MARK: ReactorSource

    package var deadline: MonotonicInstant? {
        var due = heap.first?.deadline ?? .max
        if let (_, d) = firstConnecting() { due = min(due, d) }
        if idleCount > 0 || !pools.isEmpty { due = min(due, nextSweep) }
        return due == .max ? nil : MonotonicInstant(nanoseconds: due)
    }

    package func ready(_ token: UInt64, events: UInt32) {
        reactor.assertInLoop()
        let fd = Int32(truncatingIfNeeded: token)
        guard let c = connections[fd] else { return }
        switch c.state {
        case .idle:
            // The node closed it (or spoke out of turn): it cannot carry another request.
            drop(c)
        case .connecting:
            let error = Socket.pendingError(fd)
            guard error == 0 else {
                return fail(c, ClientError(.connect, "could not connect: \(SystemError("connect", errno: error).description)"))
            }
            c.state = .sending(sent: 0)
            send(c)
        case .sending:
            send(c)
        case .receiving:
            receive(c)
        }
    }

    package func fire(now _: MonotonicInstant) {
        reactor.assertInLoop()
        let now = csidecar_monotonic_ns()
        while let x = heap.first, x.deadline <= now {
            heap.remove(x)
            if let c = x.connection {
                if case .connecting = c.state { fail(c, ClientError(.timeout, "timed out connecting")) } else { fail(c, .timeout) }
            } else {
                finish(x, .failure(.timeout))
            }
        }
        while let (c, d) = firstConnecting(), d <= now {
            connectingHead += 1
            fail(c, ClientError(.connect, "connect timed out after \(configuration.connectTimeout)"))
        }
        if (idleCount > 0 || !pools.isEmpty) && nextSweep <= now { sweep(now) }
    }

    /// Fails every request still running with `shutdown` and closes every connection.
    package func close() {
        reactor.assertInLoop()
        guard !closed else { return }
        closed = true
        for c in Array(connections.values) {
            if let x = c.exchange { finish(x, .failure(.shutdown)) }
            closeSocket(c)
        }
        for pool in pools.values { while let x = pool.nextWaiting() { finish(x, .failure(.shutdown)) } }
        for x in starved where !x.finished { finish(x, .failure(.shutdown)) }
        starved.removeAll()
        pools.removeAll()
    }

    // MARK: Requests and connections

    /// The oldest connection still connecting, and its connect deadline; skips (and in time
    /// forgets) those that connected or closed since.
    private func firstConnecting() -> (HTTP1Connection, UInt64)? {
        while connectingHead < connecting.count {
            let c = connecting[connectingHead]
            if connections[c.fd] === c, case .connecting(let d) = c.state { return (c, d) }
            connectingHead += 1
        }
        if connectingHead > 0 {
            connecting.removeAll(keepingCapacity: true)
            connectingHead = 0
        }
        return nil
    }

    private func pool(for address: SocketAddress) -> HTTP1Pool {
        if let p = pools[address] { return p }
        let p = HTTP1Pool(address: address)
        pools[address] = p
        return p
    }

    /// Gives `x` a connection: an idle one of its node, a new one, or a place in the queue.
    private func assign(_ x: HTTP1Exchange) {
        let pool = x.pool
        if let c = pool.idle.popLast() {
            idleCount -= 1
            attach(x, c)
            c.state = .sending(sent: 0)
            send(c)
            return
        }
        guard pool.open < configuration.maxConnectionsPerHost else { return pool.waiting.append(x) }
        if connections.count >= configuration.maxConnections && !closeAnyIdle() { return starved.append(x) }
        open(x)
    }

    private func attach(_ x: HTTP1Exchange, _ c: HTTP1Connection) {
        x.connection = c
        c.exchange = x
        c.parser = HTTPResponseParser(isHead: x.isHead, maxBodyBytes: configuration.maxResponseBytes)
    }

    private func open(_ x: HTTP1Exchange) {
        let pool = x.pool
        let fd: Int32
        let inProgress: Bool
        do {
            (fd, inProgress) = try Socket.connect(to: pool.address)
        } catch {
            return finish(x, .failure(ClientError(.connect, "could not connect: \(error.description)")))
        }
        let now = csidecar_monotonic_ns()
        let c = HTTP1Connection(
            fd: fd, pool: pool,
            state: inProgress ? .connecting(deadline: now &+ UInt64(configuration.connectTimeout.nanoseconds)) : .sending(sent: 0),
            events: inProgress ? EPOLLOUT.rawValue : EPOLLIN.rawValue)
        pool.open += 1
        connections[fd] = c
        attach(x, c)
        reactor.watch(fd, events: c.events, isNew: true, for: self)
        if inProgress {
            connecting.append(c)
        } else {
            send(c)
        }
    }

    private func watch(_ c: HTTP1Connection, _ events: UInt32) {
        guard c.events != events else { return }
        c.events = events
        reactor.watch(c.fd, events: events, isNew: false, for: self)
    }

    /// Writes what is left of the request in one gathered write.
    private func send(_ c: HTTP1Connection) {
        guard let x = c.exchange, case .sending(let sent) = c.state else { return }
        let outcome: Result<IOResult<Int>, SystemError> = x.line.withUnsafeBytes { line in
            x.batch.fieldBlock.withUnsafeBytes { block in
                x.batch.body.withUnsafeBytes { body in
                    do throws(SystemError) {
                        return .success(try c.transport.write(c.fd, gathering: (line, block, body), skipping: sent))
                    } catch {
                        return .failure(error)
                    }
                }
            }
        }
        switch outcome {
        case .failure(let error):
            lost(c, ClientError(.io, "could not send: \(error.description)"))
        case .success(.wouldBlock):
            watch(c, EPOLLOUT.rawValue)
        case .success(.done(let n)):
            if sent + n < x.length {
                c.state = .sending(sent: sent + n)
                watch(c, EPOLLOUT.rawValue)
            } else {
                c.state = .receiving
                watch(c, EPOLLIN.rawValue)
            }
        }
    }

    /// Reads what arrived and feeds the answer's parser.
    private func receive(_ c: HTTP1Connection) {
        guard let x = c.exchange else { return drop(c) }
        while true {
            let n: Int
            do {
                switch try c.transport.read(c.fd, into: buffer) {
                case .wouldBlock: return
                case .done(let k): n = k
                }
            } catch {
                return lost(c, ClientError(.io, "connection failed: \(error.description)"))
            }
            if n == 0 {
                do {
                    try c.parser.end()
                } catch {
                    return lost(c, ClientError(.io, error.message))
                }
                return complete(c, x, reusable: false)
            }
            let used: Int
            do {
                used = try c.parser.feed(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            } catch {
                return fail(c, ClientError(parsing: error))
            }
            if c.parser.isComplete { return complete(c, x, reusable: used == n && c.parser.keepAlive) }
            if n < buffer.count { return }
        }
    }

    /// The answer is whole: hand it over, then keep the connection for the next request or close it.
    private func complete(_ c: HTTP1Connection, _ x: HTTP1Exchange, reusable: Bool) {
        let now = csidecar_monotonic_ns()
        let response = ClientResponse(
            status: c.parser.status, headers: c.parser.fields, body: c.parser.body, duration: .nanoseconds(Int64(now &- x.started)),
            newConnections: c.reused ? 0 : 1)
        c.exchange = nil
        c.parser = HTTPResponseParser(isHead: false, maxBodyBytes: 0)
        c.reused = true
        if reusable && !closed {
            if let next = c.pool.nextWaiting() {
                attach(next, c)
                c.state = .sending(sent: 0)
                send(c)
            } else {
                c.state = .idle(since: now)
                if idleCount == 0 { nextSweep = now &+ sweepInterval }
                idleCount += 1
                c.pool.idle.append(c)
                serveStarved()
            }
        } else {
            closeSocket(c)
            serveWaiting(c.pool)
        }
        finish(x, .success(response))
    }

    /// The connection failed before the answer began or while it came: a kept-alive one that
    /// closed before any byte of the answer is tried once more on a new connection (the node
    /// closed it while idle; libcurl does the same); otherwise the request fails with `error`.
    private func lost(_ c: HTTP1Connection, _ error: ClientError) {
        if let x = c.exchange, c.reused, !c.parser.receivedAny, !x.resent, !closed {
            x.resent = true
            c.exchange = nil
            x.connection = nil
            closeSocket(c)
            assign(x)
            serveWaiting(c.pool)
            return
        }
        fail(c, error)
    }

    /// Ends the connection's request with `error` and closes the connection.
    private func fail(_ c: HTTP1Connection, _ error: ClientError) {
        let x = c.exchange
        c.exchange = nil
        closeSocket(c)
        serveWaiting(c.pool)
        if let x { finish(x, .failure(error)) }
    }

    /// Closes a connection that carries no request.
    private func drop(_ c: HTTP1Connection) {
        if case .idle = c.state, let k = c.pool.idle.firstIndex(where: { $0 === c }) {
            c.pool.idle.remove(at: k)
            idleCount -= 1
        }
        closeSocket(c)
        serveWaiting(c.pool)
    }

    private func closeSocket(_ c: HTTP1Connection) {
        guard connections[c.fd] === c else { return }
        connections[c.fd] = nil
        c.pool.open -= 1
        reactor.unwatch(c.fd)
        c.transport.close(c.fd)
    }

    /// A connection of `pool` closed: the next waiting request may open one.
    private func serveWaiting(_ pool: HTTP1Pool) {
        if !closed, pool.open < configuration.maxConnectionsPerHost, let next = pool.nextWaiting() { assign(next) }
        serveStarved()
    }

    private func serveStarved() {
        while !closed, !starved.isEmpty, connections.count < configuration.maxConnections || idleCount > 0 {
            let x = starved.removeFirst()
            if !x.finished { assign(x) }
        }
    }

    /// Closes one idle connection of any node, to make room under `maxConnections`.
    private func closeAnyIdle() -> Bool {
        guard idleCount > 0 else { return false }
        for pool in pools.values {
            if let c = pool.idle.first {
                drop(c)
                return true
            }
        }
        return false
    }

    private var sweepInterval: UInt64 { UInt64(max(1_000_000, configuration.idleTimeout.nanoseconds / 4)) }

    /// Closes connections idle for `idleTimeout`, and forgets nodes with nothing open or waiting
    /// (nodes come and go with the cluster: their pools must not pile up).
    private func sweep(_ now: UInt64) {
        let limit = UInt64(configuration.idleTimeout.nanoseconds)
        for pool in pools.values {
            for c in pool.idle {
                if case .idle(let since) = c.state, now &- since >= limit { drop(c) }
            }
        }
        if starved.isEmpty {
            pools = pools.filter { !$0.value.isUnused }
        }
        nextSweep = now &+ sweepInterval
    }

    /// Reports `x`'s outcome once.
    private func finish(_ x: HTTP1Exchange, _ result: Result<ClientResponse, ClientError>) {
        guard !x.finished else { return }
        x.finished = true
        x.connection = nil
        heap.remove(x)
        x.sink.finished(x.index, result)
    }
}
