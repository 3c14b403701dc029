import CSidecarSystem
import Glibc
import SidecarHTTP
import SidecarPosix
import SidecarTLS

/// Our own HTTP/1.1 client for `http://` nodes, and `https://` ones when it is given a TLS
/// context (handshakes under the connect timeout, SNI, verification, the client certificate,
/// sessions resumed per node), on a reactor's epoll and thread: non-blocking connects with a timeout, one gathered write per request, answers read into one buffer and
/// parsed by `HTTPResponseParser`, connections kept alive per node (at most
/// `maxConnectionsPerHost` each, `maxConnections` in all, closed after `idleTimeout` unused or
/// as soon as the node closes them).
///
/// The shell of `HTTP1PoolMachine`: it reads the clock, makes the syscalls and parses bytes;
/// every decision (which connection, queue, resend, deadline, close) is the machine's.
/// Confined to its reactor's thread (asserted in debug builds); outcomes reach the sinks there.
package final class HTTP1Engine: ReactorSource {
    typealias Machine = HTTP1PoolMachine<NodeAddress.Pool, HTTP1Exchange>

    private unowned let reactor: any Reactor
    private let configuration: ClientConfiguration
    private let machine: Machine
    /// Open connections by the machine's id (ids are reused, so the table
    /// stays small).
    private var connections: [HTTP1Connection?] = []
    /// Counts connections opened, for their epoll tokens: a token is the id and this count, so
    /// an event still queued for a closed connection never reaches a new one under its id.
    private var opened: UInt64 = 0
    /// How a node URL is served, by URL, bounded.
    private var routes: [String: Route] = [:]
    /// Routes in `routes` that are names (while none is, a fan-out looks none up).
    package private(set) var namedRoutes = 0
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    /// Carrying out the machine's actions now (a sink that starts a request meanwhile only
    /// adds to them).
    private var performing = false
    /// The last resumable TLS session per pool, offered to its next connection (bounded).
    private var resumptions: [NodeAddress.Pool: TLSResumption] = [:]

    /// The engine `reactor` keeps under `key`, made on first use (on the reactor's thread).
    package static func attached(to reactor: any Reactor, key: ObjectIdentifier, configuration: ClientConfiguration) -> HTTP1Engine {
        reactor.local(key) { HTTP1Engine(configuration: configuration, reactor: reactor) }
    }

    /// An engine whose sockets `reactor` watches (host it there, or make it through `attached`).
    package init(configuration: ClientConfiguration, reactor: any Reactor) {
        self.reactor = reactor
        self.configuration = configuration
        machine = Machine(
            limits: .init(
                maxConnections: configuration.maxConnections, maxConnectionsPerNode: configuration.maxConnectionsPerHost,
                connectTimeout: configuration.connectTimeout, idleTimeout: configuration.idleTimeout))
    }

    deinit { buffer.deallocate() }

    /// How a node's URL is served.
    package enum Route: Sendable {
        /// By this engine, at this address.
        case address(NodeAddress)
        /// By this engine once the name is resolved.
        case name(NodeName)
        /// By libcurl (a URL this engine does not serve exactly, or `https://` without its TLS).
        case curl
    }

    /// How `url` is served (remembered per URL).
    package func route(_ url: String) -> Route {
        if let known = routes[url] { return known }
        if routes.count >= 4096 {
            routes.removeAll(keepingCapacity: true)
            namedRoutes = 0
        }
        let route: Route
        if let node = NodeAddress(url), node.serverName == nil || configuration.tls != nil {
            route = .address(node)
        } else if let name = NodeName(url), !name.tls || configuration.tls != nil {
            route = .name(name)
            namedRoutes += 1
        } else {
            route = .curl
        }
        routes[url] = route
        return route
    }

    /// `url` read for this engine, or nil when it is not an address this engine serves.
    package func node(_ url: String) -> NodeAddress? {
        if case .address(let node) = route(url) { return node }
        return nil
    }

    /// Connections open now (for tests).
    package var openConnections: Int { machine.openConnections }

    /// Nodes the engine keeps a pool for (for tests).
    package var pooledNodes: Int { machine.pooledNodes }

    /// A request started, to cancel it.
    package struct Handle {
        let request: Machine.Request
    }

    /// Sends `batch` to `node` within `timeout` (nil: the batch's, or the client's);
    /// `sink.finished(index, result)` runs once, on this thread (already during this call when
    /// it fails at once).
    @discardableResult
    package func start(_ batch: HTTP1Batch, index: Int, node: NodeAddress, sink: any HTTP1Sink, timeout: Duration? = nil) -> Handle {
        reactor.assertInLoop()
        let now = Self.now
        let x = HTTP1Exchange(
            sink: sink, index: index, batch: batch, line: batch.requestLine(node), started: now.nanoseconds)
        let r = machine.start(x, node: node.pool, timeout: timeout ?? batch.timeout ?? configuration.requestTimeout, now: now)
        perform()
        return Handle(request: r)
    }

    /// Ends the request with `cancelled` if it still runs (its sink hears so during this call),
    /// closing the connection that carries it.
    package func cancel(_ handle: Handle) {
        reactor.assertInLoop()
        machine.cancel(handle.request, now: Self.now)
        perform()
    }

    // MARK: ReactorSource

    package var deadline: MonotonicInstant? { machine.deadline }

    package func ready(_ token: UInt64, events: UInt32) {
        reactor.assertInLoop()
        guard let c = connection(Int(truncatingIfNeeded: token & Self.idMask)), c.token == token else { return }
        switch c.state {
        case .idle:
            machine.closedByNode(c.id, now: Self.now)
        case .connecting:
            let error = Socket.pendingError(c.fd)
            if error == 0 {
                established(c)
            } else {
                let reason = "could not connect: \(SystemError("connect", errno: error).description)"
                machine.connectFailed(c.id, ClientError(.connect, reason), now: Self.now)
            }
        case .handshaking:
            handshake(c)
        case .sending:
            send(c)
        case .receiving:
            receive(c)
        }
        perform()
    }

    package func fire(now _: MonotonicInstant) {
        reactor.assertInLoop()
        machine.fire(now: Self.now)
        perform()
    }

    /// Fails every request still running with `shutdown` and closes every connection.
    package func close() {
        reactor.assertInLoop()
        machine.shutdown()
        perform()
    }

    // MARK: The machine's actions

    private static let idMask: UInt64 = (1 << 24) - 1

    private static var now: MonotonicInstant { MonotonicInstant(nanoseconds: csidecar_monotonic_ns()) }

    /// Carries out what the machine decided, in order, until nothing is left.
    private func perform() {
        guard !performing else { return }
        performing = true
        defer { performing = false }
        while let action = machine.takeAction() {
            switch action {
            case .connect(let id, let r): open(id, r)
            case .send(let id, let r):
                guard let c = connection(id) else { continue }
                begin(r, on: c)
                c.state = .sending(sent: 0)
                send(c)
            case .close(let id):
                guard let c = connection(id) else { continue }
                connections[id] = nil
                reactor.unwatch(c.fd)
                c.transport.close(c.fd)
            case .fail(let r, let error):
                r.ticket.sink.finished(r.ticket.index, .failure(error))
            }
        }
    }

    private func connection(_ id: Int) -> HTTP1Connection? { id >= 0 && id < connections.count ? connections[id] : nil }

    private func open(_ id: Int, _ r: Machine.Request) {
        let fd: Int32
        let inProgress: Bool
        do {
            (fd, inProgress) = try Socket.connect(to: r.node.address)
        } catch {
            return machine.connectFailed(id, ClientError(.connect, "could not connect: \(error.description)"), now: Self.now)
        }
        var transport = Transport.plain
        if let name = r.node.serverName {
            guard let session = configuration.tls?.connecting(fd: fd, host: name) else {
                Socket.close(fd)
                return machine.connectFailed(id, ClientError(.tls, "could not start TLS for \(name)"), now: Self.now)
            }
            if let resumption = resumptions[r.node] { session.resume(resumption) }
            transport = .tls(session)
        }
        opened &+= 1
        let token = UInt64(id) & Self.idMask | (opened & Self.idMask) << 24
        let c = HTTP1Connection(
            id: id, token: token, fd: fd, state: .connecting, events: inProgress ? EPOLLOUT.rawValue : EPOLLIN.rawValue,
            transport: transport)
        while connections.count <= id { connections.append(nil) }
        connections[id] = c
        begin(r, on: c)
        reactor.watch(fd, events: c.events, token: token, isNew: true, for: self)
        if !inProgress { established(c) }
    }

    /// The socket is connected: the request goes out, after the TLS handshake for `https://`.
    private func established(_ c: HTTP1Connection) {
        guard c.tls != nil else {
            machine.connected(c.id)
            c.state = .sending(sent: 0)
            return send(c)
        }
        c.state = .handshaking
        handshake(c)
    }

    /// Runs the handshake as far as the socket allows; once done, the connection counts as
    /// connected (the connect timeout covers the handshake too).
    private func handshake(_ c: HTTP1Connection) {
        guard let session = c.tls else { return }
        do throws(SystemError) {
            switch try session.handshake() {
            case .wouldBlock:
                watch(c, session.wantsWritable ? EPOLLOUT.rawValue : EPOLLIN.rawValue)
            case .done:
                machine.connected(c.id)
                c.state = .sending(sent: 0)
                send(c)
            }
        } catch {
            machine.connectFailed(c.id, ClientError(.tls, session.failureReason), now: Self.now)
        }
    }

    /// `c` carries `r` now, its answer read by a new parser.
    private func begin(_ r: Machine.Request, on c: HTTP1Connection) {
        c.request = r
        c.parser = HTTPResponseParser(isHead: r.ticket.isHead, maxBodyBytes: configuration.maxResponseBytes)
    }

    private func watch(_ c: HTTP1Connection, _ events: UInt32) {
        guard c.events != events else { return }
        c.events = events
        reactor.watch(c.fd, events: events, token: c.token, isNew: false, for: self)
    }

    /// Writes what is left of the request in one gathered write.
    private func send(_ c: HTTP1Connection) {
        // Through the request, not a copy of its ticket: a copy would retain each field.
        guard let r = c.request, case .sending(let sent) = c.state else { return }
        let batch = r.ticket.batch
        let outcome: Result<IOResult<Int>, SystemError> = r.ticket.line.withUnsafeBytes { line in
            batch.fieldBlock.withUnsafeBytes { block in
                batch.body.withUnsafeBytes { body in
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
            watch(c, c.tls?.wantsWritable == false ? EPOLLIN.rawValue : EPOLLOUT.rawValue)
        case .success(.done(let n)):
            if sent + n < r.ticket.length {
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
        guard let r = c.request else { return }
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
                return complete(c, r, reusable: false)
            }
            let used: Int
            do {
                used = try c.parser.feed(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            } catch {
                return lost(c, ClientError(parsing: error))
            }
            if c.parser.isComplete { return complete(c, r, reusable: used == n && c.parser.keepAlive) }
            if n < buffer.count { return }
        }
    }

    /// The answer is whole: the machine decides what becomes of the connection, then the answer
    /// is handed over.
    private func complete(_ c: HTTP1Connection, _ r: Machine.Request, reusable: Bool) {
        let now = Self.now
        let response = ClientResponse(
            status: c.parser.status, headers: c.parser.fields, body: c.parser.body,
            duration: .nanoseconds(Int64(now.nanoseconds &- r.ticket.started)), newConnections: c.reused ? 0 : 1)
        c.request = nil
        c.parser = HTTPResponseParser(isHead: false, maxBodyBytes: 0)
        c.reused = true
        if let session = c.tls, !c.resumptionKept { keepResumption(session, for: r.node) }
        c.resumptionKept = true
        c.state = .idle
        machine.answered(c.id, reusable: reusable, now: now)
        perform()
        r.ticket.sink.finished(r.ticket.index, .success(response))
    }

    /// Keeps `session`'s resumable session for the pool's next connection (after the first
    /// answer: a TLS 1.3 server sends its ticket after the handshake).
    private func keepResumption(_ session: TLSSession, for pool: NodeAddress.Pool) {
        guard let resumption = session.resumable() else { return }
        if resumptions.count >= 4096 && resumptions[pool] == nil { resumptions.removeAll(keepingCapacity: true) }
        resumptions[pool] = resumption
    }

    /// The connection failed while its request went out or its answer came.
    private func lost(_ c: HTTP1Connection, _ error: ClientError) {
        let began = c.parser.receivedAny
        c.request = nil
        c.state = .idle
        machine.failed(c.id, error, answerBegan: began, now: Self.now)
    }
}
