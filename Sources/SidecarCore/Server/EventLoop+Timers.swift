import CSidecarSystem

/// Deadlines as intrusive FIFO lists, one per kind: each kind has a single duration, so
/// appending at the tail keeps a list sorted, and arming or disarming is O(1).
extension EventLoop {
    func arm(_ conn: Connection, _ kind: TimerKind) {
        disarm(conn)
        let k = kind.rawValue
        conn.timer = kind
        conn.deadline = now &+ shared.timeouts[k]
        conn.timerPrev = timerTail[k]
        conn.timerNext = -1
        if timerTail[k] >= 0 {
            connections[Int(timerTail[k])]!.timerNext = conn.fd
        } else {
            timerHead[k] = conn.fd
        }
        timerTail[k] = conn.fd
    }

    func disarm(_ conn: Connection) {
        guard let kind = conn.timer else { return }
        let k = kind.rawValue
        if conn.timerPrev >= 0 {
            connections[Int(conn.timerPrev)]!.timerNext = conn.timerNext
        } else {
            timerHead[k] = conn.timerNext
        }
        if conn.timerNext >= 0 {
            connections[Int(conn.timerNext)]!.timerPrev = conn.timerPrev
        } else {
            timerTail[k] = conn.timerPrev
        }
        conn.timer = nil
        conn.timerPrev = -1
        conn.timerNext = -1
    }

    /// Milliseconds until the earliest deadline (-1 when none), rounded up.
    func nextTimeoutMS() -> Int32 {
        now = csidecar_monotonic_ns()
        var earliest = UInt64.max
        for k in 0..<timerHead.count where timerHead[k] >= 0 {
            earliest = min(earliest, connections[Int(timerHead[k])]!.deadline)
        }
        for (_, source) in locals { if let due = source.deadline { earliest = min(earliest, due) } }
        return Epoll.timeoutMS(until: earliest == .max ? nil : earliest, now: now)
    }

    /// Acts on every deadline that has passed.
    func expireTimers() {
        for kind in TimerKind.allCases {
            while timerHead[kind.rawValue] >= 0 {
                let conn = connections[Int(timerHead[kind.rawValue])]!
                guard conn.deadline <= now else { break }
                disarm(conn)
                expire(conn, kind)
            }
        }
    }

    private func expire(_ conn: Connection, _ kind: TimerKind) {
        switch kind {
        case .header, .body:
            // A request was under way: say so (408) before closing; a silent connection just closes.
            if conn.pending.isEmpty && kind == .header {
                close(conn)
                return
            }
            conn.pending = []
            refuseTimeout(conn)
        case .idle, .send, .linger:
            close(conn)
        }
    }

    private func refuseTimeout(_ conn: Connection) {
        shared.logger.debug("request timed out", metadata: ["fd": "\(conn.fd)"])
        conn.head = nil
        conn.decoder = nil
        conn.body = []
        let pending = Connection.Pending(omitBody: false, version: .http11, keepAlive: false, correlationID: makeCorrelationID())
        finish(conn, .error(408, code: "request_timeout", message: "request not received in time"), pending)
        flush(conn)
        if connection(conn.fd, conn.generation) != nil { updateInterest(conn) }
    }
}
