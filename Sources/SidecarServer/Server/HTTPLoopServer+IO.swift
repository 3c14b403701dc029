import CSidecarSystem
import Glibc
import SidecarHTTP
import SidecarPosix
import SidecarTLS

/// Reading, parsing and writing: the shell around each connection's state machine.
extension HTTPLoopServer {
    func handle(events: UInt32, fd: Int32, generation: UInt32) {
        guard let conn = connection(fd, generation) else { return }
        if conn.machine.holdsRequest && events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            close(conn)  // the peer is gone both ways: its later answer has nowhere to go
            return
        }
        if conn.machine.isStreaming && events & EPOLLRDHUP.rawValue != 0 {
            // A streamed body may run long: a caller that closed has gone (as nginx's 499), and
            // its producer is told now rather than at a write that fails.
            close(conn)
            return
        }
        // A TLS read that stopped for writability (a handshake flight that did not fit) goes on
        // when the socket takes more.
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
            || (events & EPOLLOUT.rawValue != 0 && conn.out.isEmpty && conn.transport.wantsWritable)
        {
            readAvailable(conn)
        }
        guard alive(conn) else { return }
        if !conn.out.isEmpty { flush(conn) }
        if alive(conn) { updateInterest(conn) }
    }

    private func readAvailable(_ conn: Connection) {
        while true {
            if conn.machine.holdsRequest || conn.out.count > Self.outputHighWater { return }
            let n: Int
            do {
                guard case .done(let count) = try conn.transport.read(conn.fd, into: readBuffer) else { return }
                n = count
            } catch {
                close(conn)
                return
            }
            stats[conn.listener].bytesIn.add(n, ordering: .relaxed)
            if n == 0 {
                if conn.machine.peerHungUp(outputEmpty: conn.out.isEmpty) == .close { close(conn) }
                return
            }
            if case .lingering = conn.machine.state { continue }
            consume(conn, UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
            if !alive(conn) { return }
            if n < readBuffer.count { return }
        }
    }

    /// Feeds freshly read bytes to the connection, keeping what is not consumed.
    private func consume(_ conn: Connection, _ bytes: UnsafeRawBufferPointer) {
        if conn.input.isEmpty {
            let used = process(conn, bytes)
            if used < bytes.count { conn.input.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...])) }
        } else {
            conn.input.append(contentsOf: bytes)
            processInput(conn)
        }
    }

    /// Parses what the connection holds (after a later answer, requests queued behind it).
    func processInput(_ conn: Connection) {
        guard !conn.input.isEmpty else { return }
        let used = conn.input.withUnsafeBytes { process(conn, $0) }
        if used == conn.input.count {
            conn.input.removeAll(keepingCapacity: conn.input.capacity <= 4096)
        } else if used > 0 {
            conn.input.removeFirst(used)
        }
    }

    /// Parses and answers as many requests as `buf` holds; returns the bytes used.
    private func process(_ conn: Connection, _ buf: UnsafeRawBufferPointer) -> Int {
        var off = 0
        while true {
            var used = 0
            let step = conn.machine.parse(UnsafeRawBufferPointer(rebasing: buf[off...]), used: &used)
            off += used
            switch step {
            case .needMore, .discard:
                return off
            case .arm(let kind):
                arm(conn, kind)
            case .sendContinue:
                if answerBeforeBody(conn) { return buf.count }
                conn.out.append(contentsOf: ResponseWriter.continueLine)
                arm(conn, .body)
            case .request(let head, let body):
                dispatch(conn, head, body: body)
            case .refuse(let error):
                refuse(conn, status: error.status, code: error.label, message: error.message)
                return off
            }
        }
    }

    /// Sends queued output; then the machine says whether to close, linger or wait.
    func flush(_ conn: Connection) {
        // A streamed body's producer learns how far the reader is behind.
        defer { conn.stream?.sent(unsent: conn.out.count) }
        while !conn.out.isEmpty {
            do {
                let r = try conn.out.withUnsafeBytes { bytes throws(SystemError) in try conn.transport.write(conn.fd, bytes) }
                guard case .done(let n) = r else {
                    if conn.timer != .send { arm(conn, .send) }
                    return
                }
                stats[conn.listener].bytesOut.add(n, ordering: .relaxed)
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
        switch conn.machine.flushed(sendTimerArmed: conn.timer == .send, draining: shared.isDraining, inputEmpty: conn.input.isEmpty) {
        case .close:
            close(conn)
        case .shutdownAndLinger:
            conn.transport.shutdownWrite(conn.fd)
            arm(conn, .linger)
        case .rearmIdle:
            arm(conn, .idle)
        case .stopSendTimer:
            disarm(conn)
        case .none:
            break
        }
    }

    /// Registers the epoll events the connection's state calls for.
    func updateInterest(_ conn: Connection) {
        var wanted: UInt32 = 0
        if !conn.machine.holdsRequest && conn.out.count <= Self.outputHighWater { wanted |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if conn.machine.isStreaming { wanted |= EPOLLRDHUP.rawValue }
        if !conn.out.isEmpty || conn.transport.wantsWritable { wanted |= EPOLLOUT.rawValue }
        if wanted != conn.interest {
            conn.interest = wanted
            loop.watch(conn.fd, events: wanted, token: conn.token, isNew: false, for: self)
        }
    }
}
