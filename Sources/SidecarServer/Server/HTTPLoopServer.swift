import CSidecarSystem
import Glibc
import Logging
import SidecarHTTP
import SidecarPosix
import SidecarTLS

/// The HTTP server's part on one event loop, hosted by it as an event source: it accepts,
/// reads and writes the connections the loop hands it, asks each connection's state machine
/// what the bytes and events mean, and runs the listener's handlers.
///
/// Everything runs on the loop's thread (asserted in debug builds) but `deliver`, which any
/// thread may call with a later answer: it queues the answer on the loop.
final class HTTPLoopServer: ReactorSource, ResponderSink, @unchecked Sendable {  // loop-confined; deliver() only queues
    /// Tokens: a listener is `listenerFlag | index`; a connection is `generation << 24 | fd`,
    /// with generations kept below the flag.
    static let listenerFlag: UInt64 = 1 << 47
    static let generationMask: UInt32 = (1 << 23) - 1
    static let readBufferSize = 64 * 1024
    /// Output above this pauses reading (and so parsing) until the peer catches up.
    static let outputHighWater = 256 * 1024

    let loop: EventLoop
    let shared: ServerShared
    /// This loop's counters, by listener.
    let stats: [ListenerStatsCell]
    let observer: (any RequestObserver)?
    /// The listeners' routers by index, each behind a reference: calling a method of a router
    /// read out of an array of structs copied it (retaining every field) on each request.
    let routers: [RouterBox]
    var connections: [Connection?] = []
    let readBuffer: UnsafeMutableRawBufferPointer
    var nextGeneration: UInt32 = 0
    var dateCache = DateCache()
    let statusLines = StatusLines()
    /// Read once: a per-request level check would copy the logger (and retain its handler).
    let debugLogging: Bool
    var listening = true
    // Timer list heads and tails by `TimerKind.rawValue` (fds; -1 for none).
    var timerHead = [Int32](repeating: -1, count: TimerKind.allCases.count)
    var timerTail = [Int32](repeating: -1, count: TimerKind.allCases.count)

    /// Joins `loop` and watches the listeners there (call before the loop runs, or on it).
    init(loop: EventLoop, shared: ServerShared) {
        self.loop = loop
        self.shared = shared
        stats = shared.stats[loop.id]
        observer = shared.observer
        routers = shared.listeners.map { RouterBox($0.router) }
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        debugLogging = shared.logger.logLevel <= .debug
        loop.host(self)
        for (k, listener) in shared.listeners.enumerated() {
            loop.watch(
                listener.fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, token: Self.listenerFlag | UInt64(k), isNew: true,
                for: self)
        }
    }

    /// Connections taken per wake-up of a listener: all there are (256 at most) on a lone loop.
    private var acceptBatch: Int { shared.configuration.loopCount > 1 ? 1 : 256 }

    deinit { readBuffer.deallocate() }

    // MARK: ReactorSource

    func ready(_ token: UInt64, events: UInt32) {
        loop.assertInLoop()
        if token & Self.listenerFlag != 0 {
            acceptAll(listener: Int(token & 0xFFFF))
        } else {
            handle(events: events, fd: Int32(truncatingIfNeeded: token & 0xFF_FFFF), generation: UInt32(truncatingIfNeeded: token >> 24))
        }
    }

    /// The loop stops: every connection and this loop's hold on the listeners end.
    func close() {
        loop.assertInLoop()
        stopListening()
        for case let conn? in connections { close(conn) }
    }

    // MARK: ResponderSink

    var reactor: (any Reactor)? { loop }

    func deliver(_ token: UInt64, _ response: HTTPResponse) {
        loop.execute { [self] in complete(token, response) }
    }

    /// A later answer arrived for the connection `token` names.
    private func complete(_ token: UInt64, _ response: HTTPResponse) {
        guard let conn = connection(token: token), conn.machine.isAwaiting else { return }
        respond(conn, response)
        // Parse what queued up behind it, send, resume reading.
        processInput(conn)
        guard alive(conn) else { return }
        flush(conn)
        if alive(conn) { updateInterest(conn) }
    }

    // MARK: drain

    /// Stops accepting and closes idle connections; the others close after their answer.
    ///
    /// A connection accepted but with nothing read yet is not idle in the client's eyes: it has
    /// most likely sent its request, which may already wait in the kernel. It is read now (and
    /// answered, then closed); if nothing has come, it gets `drainGrace` for its request.
    func drain() {
        loop.assertInLoop()
        stopListening()
        for case let conn? in connections where conn.machine.isIdle(inputEmpty: conn.input.isEmpty, outputEmpty: conn.out.isEmpty) {
            guard conn.machine.state == .head else {
                close(conn)
                continue
            }
            handle(events: EPOLLIN.rawValue, fd: conn.fd, generation: conn.generation)
            if alive(conn), conn.machine.state == .head, conn.input.isEmpty { arm(conn, .drainGrace) }
        }
    }

    private func stopListening() {
        guard listening else { return }
        listening = false
        for listener in shared.listeners { loop.unwatch(listener.fd) }
        if shared.loopsListening.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            for listener in shared.listeners { Glibc.close(listener.fd) }
        }
    }

    // MARK: connections

    func connection(_ fd: Int32, _ generation: UInt32) -> Connection? {
        guard fd >= 0, Int(fd) < connections.count, let conn = connections[Int(fd)], conn.generation == generation else {
            return nil
        }
        return conn
    }

    /// The open connection a `Connection.token` names (nil once it has closed).
    func connection(token: UInt64) -> Connection? {
        connection(Int32(truncatingIfNeeded: token & 0xFF_FFFF), UInt32(truncatingIfNeeded: token >> 24))
    }

    /// Whether `conn` is still open (handlers and writes may have closed it).
    @inline(__always) func alive(_ conn: Connection) -> Bool { connections[Int(conn.fd)] === conn }

    private func acceptAll(listener index: Int) {
        guard listening else { return }
        let listener = shared.listeners[index]
        // With several loops on one listener, one connection per wake-up (nginx's multi_accept
        // off): the listener stays readable and the next idle loop takes the next one. Draining
        // the queue here put a burst of connections (a pool opening) all on the loop woken first.
        for _ in 0..<acceptBatch {
            let fd: Int32
            do {
                guard case .done(let accepted) = try Socket.accept(listener.fd) else { return }
                fd = accepted
            } catch {
                if error.errno == ECONNABORTED || error.errno == EPROTO { continue }
                shared.logger.warning("accept failed", metadata: ["listener": "\(listener.name)", "error": "\(error)"])
                return
            }
            shared.accepted.add(1, ordering: .relaxed)
            if shared.connections.add(1, ordering: .relaxed).newValue > shared.configuration.maxConnections {
                shared.connections.subtract(1, ordering: .relaxed)
                shared.rejected.add(1, ordering: .relaxed)
                Glibc.close(fd)
                continue
            }
            var transport = Transport.plain
            if let tls = listener.tls {
                // The handshake runs inside the first reads, under the header timeout.
                guard let session = tls.session(fd: fd) else {
                    shared.connections.subtract(1, ordering: .relaxed)
                    Glibc.close(fd)
                    continue
                }
                transport = .tls(session)
            }
            stats[index].accepted.add(1, ordering: .relaxed)
            Socket.setNoDelay(fd)
            nextGeneration = (nextGeneration &+ 1) & Self.generationMask
            let conn = Connection(
                fd: fd, generation: nextGeneration, listener: index, limits: shared.configuration.limits, transport: transport)
            while connections.count <= Int(fd) { connections.append(nil) }
            connections[Int(fd)] = conn
            conn.interest = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            loop.watch(fd, events: conn.interest, token: conn.token, isNew: true, for: self)
            arm(conn, .header)
        }
    }

    /// Closes the connection at once and forgets it (a body it was streaming is cancelled).
    func close(_ conn: Connection) {
        if let stream = conn.stream.take() { stream.cancel() }
        disarm(conn)
        connections[Int(conn.fd)] = nil
        loop.unwatch(conn.fd)
        conn.transport.close(conn.fd)
        stats[conn.listener].closed.add(1, ordering: .relaxed)
        shared.connectionClosed()
    }

    // MARK: requests

    /// Runs the handler of a complete request: its answer is written now, or the connection
    /// waits for it (reading paused, no timer) until `deliver`.
    func dispatch(_ conn: Connection, _ head: consuming RequestHead, body: consuming [UInt8]) {
        if let tls = shared.listeners[conn.listener].tls, tls.requiresClientCertificate, !conn.transport.peerVerified,
            !shared.listeners[conn.listener].openPaths.contains(head.path)
        {
            return refuseWithoutCertificate(conn)
        }
        let (handler, parameters, route) = routers[conn.listener].route(method: head.method, path: head.path)
        if observer != nil {
            conn.route = route
            conn.method = MethodLabel(head.method)
            conn.started = csidecar_monotonic_ns()
        }
        let request = HTTPRequest(head: head, body: body, pathParameters: parameters, made: .make())
        switch handler(request, Responder(sink: self, token: conn.token)) {
        case .now(let response): respond(conn, response)
        case .later: disarm(conn)
        }
    }

    /// Queues the answer of the current request and moves the connection on.
    func respond(_ conn: Connection, _ response: HTTPResponse) {
        if let streamed = response.streamed { return beginStream(conn, response, streamed) }
        let (pending, then) = conn.machine.answer(closeRequested: response.closeConnection, draining: shared.isDraining)
        write(conn, response, pending)
        stats[conn.listener].count(status: response.status)
        answered(conn, status: response.status, then: then)
    }

    /// The answer is queued: the observer hears of it, and a kept connection waits for the next.
    @inline(__always)
    private func answered(_ conn: Connection, status: Int, then: HTTPConnectionStateMachine.AnswerAction) {
        if let observer {
            observer.answered(
                AnsweredRequest(
                    loop: loop.id, listener: conn.listener, route: conn.route, method: conn.method, status: status,
                    nanoseconds: Int64(truncatingIfNeeded: csidecar_monotonic_ns() &- conn.started)))
        }
        if then == .keepAlive { arm(conn, .idle) }
    }

    /// For a request waiting for `100 Continue`: when its head already decides the answer (no
    /// route, a method not served, a missing token), sends that answer instead and closes.
    func answerBeforeBody(_ conn: Connection) -> Bool {
        guard let head = conn.machine.headAwaitingBody else { return false }
        let request = HTTPRequest(head: head, body: [], made: .make())
        guard var response = routers[conn.listener].router.earlyAnswer(to: request) else { return false }
        response.correlationID = request.correlation
        let route = routers[conn.listener].route(method: head.method, path: head.path).2
        disarm(conn)
        write(conn, response, conn.machine.answerBeforeBody())
        stats[conn.listener].count(status: response.status)
        observer?.answered(
            AnsweredRequest(
                loop: loop.id, listener: conn.listener, route: route, method: MethodLabel(head.method), status: response.status,
                nanoseconds: 0))
        return true
    }

    /// Answers a request the parser refused, or one that timed out; nothing more is read.
    /// A request on a TLS connection without a verified client certificate, where the
    /// listener asks for one: 403, and the connection closes.
    private func refuseWithoutCertificate(_ conn: Connection) {
        var response = HTTPResponse.error(
            403, code: "client_certificate_required", message: "this listener serves only callers with a verified client certificate")
        response.correlationID = .make()
        response.closeConnection = true
        if observer != nil {
            conn.route = AnsweredRequest.refused
            conn.method = .other
            conn.started = csidecar_monotonic_ns()
        }
        respond(conn, response)
    }

    func refuse(_ conn: Connection, status: Int, code: String, message: String) {
        if debugLogging { shared.logger.debug("request refused", metadata: ["code": "\(code)", "status": "\(status)"]) }
        var response = HTTPResponse.error(status, code: code, message: message)
        response.correlationID = .make()
        write(conn, response, .refusal)
        stats[conn.listener].count(status: status)
        observer?.answered(
            AnsweredRequest(
                loop: loop.id, listener: conn.listener, route: AnsweredRequest.refused, method: .other, status: status, nanoseconds: 0))
    }

    private func write(
        _ conn: Connection, _ response: HTTPResponse, _ p: HTTPConnectionStateMachine.Pending,
        framing: ResponseWriter.Framing = .length
    ) {
        var seconds: Int64 = 0
        var nanos = 0
        csidecar_realtime(&seconds, &nanos)
        dateCache.update(epochSeconds: seconds)
        ResponseWriter.write(
            response, to: &conn.out, statusLine: statusLines[response.status], dateLine: dateCache.line,
            omitBody: p.omitBody, version: p.version, keepAlive: p.keepAlive, framing: framing)
    }

    // MARK: streamed bodies

    /// Writes the head of an answer whose body follows as its producer writes it.
    private func beginStream(_ conn: Connection, _ response: HTTPResponse, _ streamed: any StreamedBody) {
        guard let stream = streamed as? BodyStream else { preconditionFailure("a streamed body that is not a BodyStream") }
        let pending = conn.machine.beginStream(closeRequested: response.closeConnection, draining: shared.isDraining)
        write(conn, response, pending, framing: conn.machine.streamsChunked ? .chunked : .close)
        stats[conn.listener].count(status: response.status)
        conn.streamStatus = response.status
        guard !pending.omitBody else {
            // HEAD: the head says it all; the producer is told to stop.
            stream.cancel()
            return endStream(conn)
        }
        conn.stream = stream
        let token = conn.token
        stream.attach { [self] in loop.execute { [self] in streamReady(token) } }
    }

    /// The producer wrote more, or finished: send it, and once the body has ended, go on with
    /// what the peer sent behind it.
    private func streamReady(_ token: UInt64) {
        guard let conn = connection(token: token), let stream = conn.stream else { return }
        let (bytes, finished) = stream.take()
        let chunked = conn.machine.streamsChunked
        ResponseWriter.appendChunk(&conn.out, bytes, chunked: chunked)
        if finished {
            if chunked { conn.out.append(contentsOf: ResponseWriter.lastChunk) }
            conn.stream = nil
            endStream(conn)
            processInput(conn)
            guard alive(conn) else { return }
        }
        flush(conn)
        if alive(conn) { updateInterest(conn) }
    }

    /// The streamed body's last piece is queued: the connection moves on as after any answer.
    private func endStream(_ conn: Connection) {
        answered(conn, status: conn.streamStatus, then: conn.machine.endStream(draining: shared.isDraining))
    }
}

/// A prepared router, read in place on each request.
final class RouterBox: Sendable {
    let router: Router
    init(_ router: Router) { self.router = router }

    @inline(__always)
    func route(method: String, path: String) -> (HTTPHandler, [String: String], Int) {
        router.route(method: method, path: path)
    }
}
