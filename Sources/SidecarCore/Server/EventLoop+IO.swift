import CSidecarSystem
import Glibc

extension EventLoop {
    /// Output above this pauses reading (and so parsing) until the peer catches up.
    static let outputHighWater = 256 * 1024

    func handle(events: UInt32, fd: Int32, generation: UInt32) {
        guard let conn = connection(fd, generation) else { return }
        if conn.isAwaiting && events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            close(conn)  // the peer is gone both ways: its deferred answer has nowhere to go
            return
        }
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            readAvailable(conn)
        }
        guard connection(fd, generation) != nil else { return }
        if !conn.out.isEmpty { flush(conn) }
        if connection(fd, generation) != nil { updateInterest(conn) }
    }

    private func readAvailable(_ conn: Connection) {
        while true {
            if conn.isAwaiting || conn.out.count > Self.outputHighWater { return }
            let n: Int
            do {
                guard case .done(let count) = try Socket.read(conn.fd, readBuffer) else { return }
                n = count
            } catch {
                close(conn)
                return
            }
            if n == 0 {
                peerClosed(conn)
                return
            }
            if case .lingering = conn.phase { continue }
            consume(conn, UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
            if connection(conn.fd, conn.generation) == nil { return }
            if n < readBuffer.count { return }
        }
    }

    /// Feeds freshly read bytes to the connection, keeping what is not consumed.
    private func consume(_ conn: Connection, _ bytes: UnsafeRawBufferPointer) {
        if conn.pending.isEmpty {
            let used = process(conn, bytes)
            if used < bytes.count { conn.pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...])) }
        } else {
            conn.pending.append(contentsOf: bytes)
            processPending(conn)
        }
    }

    func processPending(_ conn: Connection) {
        guard !conn.pending.isEmpty else { return }
        let used = conn.pending.withUnsafeBytes { process(conn, $0) }
        if used == conn.pending.count {
            conn.pending.removeAll(keepingCapacity: conn.pending.capacity <= 4096)
        } else if used > 0 {
            conn.pending.removeFirst(used)
        }
    }

    private func peerClosed(_ conn: Connection) {
        conn.peerClosed = true
        switch conn.phase {
        case .awaiting:
            return  // answer first, then close
        case .closing:
            if conn.out.isEmpty { close(conn) }
        default:
            if conn.out.isEmpty { close(conn) } else { conn.phase = .closing }
        }
    }

    /// Parses and answers as many requests as `buf` holds; returns the bytes used.
    func process(_ conn: Connection, _ buf: UnsafeRawBufferPointer) -> Int {
        var off = 0
        while true {
            switch conn.phase {
            case .head:
                guard off < buf.count else { return off }
                if conn.timer == .idle { arm(conn, .header) }
                switch RequestHeadParser.parse(UnsafeRawBufferPointer(rebasing: buf[off...]), limits: shared.configuration.limits) {
                case .incomplete:
                    return off
                case .failure(let error):
                    refuse(conn, error)
                    return buf.count
                case .complete(let head, let consumed):
                    off += consumed
                    if head.hasBody {
                        conn.decoder = BodyDecoder(framing: head.framing, maxBodyBytes: shared.configuration.limits.maxBodyBytes)
                        if case .length(let n) = head.framing { conn.body.reserveCapacity(n) }
                        if head.expectsContinue && off == buf.count { conn.out.append(contentsOf: ResponseWriter.continueLine) }
                        conn.head = head
                        conn.phase = .body
                        arm(conn, .body)
                    } else {
                        dispatch(conn, head, body: [])
                    }
                }
            case .body:
                guard off < buf.count else { return off }
                do {
                    off += try conn.decoder!.decode(UnsafeRawBufferPointer(rebasing: buf[off...]), into: &conn.body)
                } catch {
                    refuse(conn, error)
                    return buf.count
                }
                guard conn.decoder!.isComplete else { return off }
                let head = conn.head!
                let body = conn.body
                conn.head = nil
                conn.decoder = nil
                conn.body = []
                dispatch(conn, head, body: body)
            case .awaiting:
                return off
            case .closing, .lingering:
                return buf.count
            }
        }
    }

    /// Answers a refused request and stops reading requests from this connection.
    func refuse(_ conn: Connection, _ error: HTTPParseError) {
        if debugLogging { shared.logger.debug("request refused", metadata: ["code": "\(error.label)", "status": "\(error.status)"]) }
        let response = HTTPResponse.error(error.status, code: error.label, message: error.message)
        conn.head = nil
        conn.decoder = nil
        conn.body = []
        write(conn, response, Connection.Pending(omitBody: false, version: .http11, keepAlive: false, correlationID: makeCorrelationID()))
        conn.phase = .closing
    }

    private func dispatch(_ conn: Connection, _ head: RequestHead, body: [UInt8]) {
        conn.requests += 1
        let correlationID = head.fields["x-correlation-id"].flatMap(CorrelationID.init(given:)) ?? makeCorrelationID()
        let pending = Connection.Pending(
            omitBody: head.method == "HEAD", version: head.version,
            keepAlive: head.keepAlive && !shared.isDraining, correlationID: correlationID)
        let router = shared.listeners[conn.listener].router
        var request = HTTPRequest(head: head, body: body, correlation: correlationID)
        let response: HTTPResponse
        switch router.resolve(method: head.method, path: head.path) {
        case .notFound:
            response = .error(404, code: "not_found", message: "no such endpoint")
        case .methodNotAllowed(let allow):
            response = .error(405, code: "method_not_allowed", message: "method not allowed here", fields: HTTPFields([("Allow", allow)]))
        case .found(let handler, let parameters):
            request.pathParameters = parameters
            switch handler {
            case .sync(let answer):
                response = answer(request)
            case .deferred, .async:
                // Answered later, through the loop's mailbox; reading pauses to keep answers in order.
                conn.phase = .awaiting(pending)
                disarm(conn)
                let (fd, generation) = (conn.fd, conn.generation)
                let deliver: @Sendable (HTTPResponse) -> Void = { [self] answer in self.submit(.completion(fd: fd, generation: generation, response: answer)) }
                if case .deferred(let start) = handler {
                    start(request, Responder(reactor: self, deliver))  // the handler runs here, on the loop's thread
                } else if case .async(let answer) = handler {
                    let responder = Responder(deliver)
                    let req = request
                    Task { responder.respond(await answer(req)) }
                }
                return
            }
        }
        if debugLogging { shared.logger.debug("request", metadata: ["method": "\(head.method)", "path": "\(head.path)", "status": "\(response.status)", "correlation_id": "\(correlationID)"]) }
        finish(conn, response, pending)
    }

    /// Queues the answer of the current request and moves the connection on.
    func finish(_ conn: Connection, _ response: HTTPResponse, _ pending: Connection.Pending) {
        var p = pending
        p.keepAlive = p.keepAlive && !response.closeConnection && !conn.peerClosed && !shared.isDraining
        write(conn, response, p)
        if p.keepAlive {
            conn.phase = .head
            arm(conn, .idle)
        } else {
            conn.phase = .closing
        }
    }

    private func write(_ conn: Connection, _ response: HTTPResponse, _ p: Connection.Pending) {
        var seconds: Int64 = 0
        var nanos = 0
        csidecar_realtime(&seconds, &nanos)
        dateCache.update(epochSeconds: seconds)
        ResponseWriter.write(
            response, to: &conn.out, statusLine: statusLines[response.status], dateLine: dateCache.line, correlationID: p.correlationID,
            omitBody: p.omitBody, version: p.version, keepAlive: p.keepAlive)
    }

    /// After a deferred answer: parse what queued up behind it, send, resume reading.
    func resumeAfterAnswer(_ conn: Connection) {
        processPending(conn)
        guard connection(conn.fd, conn.generation) != nil else { return }
        flush(conn)
        if connection(conn.fd, conn.generation) != nil { updateInterest(conn) }
    }

    /// Sends queued output; closes or lingers once a final answer is out.
    func flush(_ conn: Connection) {
        while !conn.out.isEmpty {
            do {
                let r = try conn.out.withUnsafeBytes { bytes throws(SystemError) in try Socket.write(conn.fd, bytes) }
                guard case .done(let n) = r else {
                    if conn.timer != .send { arm(conn, .send) }
                    return
                }
                if n == conn.out.count {
                    conn.out.removeAll(keepingCapacity: conn.out.capacity <= 4096)
                } else {
                    conn.out.removeFirst(n)
                }
            } catch {
                close(conn)
                return
            }
        }
        switch conn.phase {
        case .closing:
            if conn.peerClosed {
                close(conn)
            } else {
                Socket.shutdownWrite(conn.fd)
                conn.phase = .lingering
                arm(conn, .linger)
            }
        case .head:
            if conn.timer == .send { arm(conn, .idle) }
            if shared.isDraining && isIdle(conn) { close(conn) }
        default:
            break
        }
    }

    /// Registers the epoll events the connection's state calls for.
    func updateInterest(_ conn: Connection) {
        var wanted: UInt32 = 0
        if !conn.isAwaiting && conn.out.count <= Self.outputHighWater { wanted |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if !conn.out.isEmpty { wanted |= EPOLLOUT.rawValue }
        if wanted != conn.interest {
            conn.interest = wanted
            epoll.modify(conn.fd, events: wanted, data: tag(conn))
        }
    }

    /// A new random correlation id.
    func makeCorrelationID() -> CorrelationID {
        CorrelationID(random: random.next(), random.next())
    }
}
