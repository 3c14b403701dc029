import SidecarHTTP
import SidecarPosix

/// Deadlines as intrusive FIFO lists, one per kind: each kind has a single duration, so
/// appending at the tail keeps a list sorted, and arming or disarming is O(1).
extension HTTPLoopServer {
    func arm(_ conn: Connection, _ kind: TimerKind) {
        disarm(conn)
        let k = kind.rawValue
        conn.timer = kind
        conn.deadline = loop.now.nanoseconds &+ shared.timeouts[k]
        conn.timerPrev = timerTail[k]
        conn.timerNext = -1
        if timerTail[k] >= 0 {
            connections[Int(timerTail[k])]?.timerNext = conn.fd
        } else {
            timerHead[k] = conn.fd
        }
        timerTail[k] = conn.fd
    }

    func disarm(_ conn: Connection) {
        guard let kind = conn.timer else { return }
        let k = kind.rawValue
        if conn.timerPrev >= 0 {
            connections[Int(conn.timerPrev)]?.timerNext = conn.timerNext
        } else {
            timerHead[k] = conn.timerNext
        }
        if conn.timerNext >= 0 {
            connections[Int(conn.timerNext)]?.timerPrev = conn.timerPrev
        } else {
            timerTail[k] = conn.timerPrev
        }
        conn.timer = nil
        conn.timerPrev = -1
        conn.timerNext = -1
    }

    /// The earliest deadline of any connection.
    var deadline: MonotonicInstant? {
        var earliest = UInt64.max
        for k in 0..<timerHead.count where timerHead[k] >= 0 {
            if let first = connections[Int(timerHead[k])] { earliest = min(earliest, first.deadline) }
        }
        return earliest == .max ? nil : MonotonicInstant(nanoseconds: earliest)
    }

    /// Acts on every deadline that has passed.
    func fire(now: MonotonicInstant) {
        loop.assertInLoop()
        for kind in TimerKind.allCases {
            while timerHead[kind.rawValue] >= 0, let conn = connections[Int(timerHead[kind.rawValue])] {
                guard conn.deadline <= now.nanoseconds else { break }
                disarm(conn)
                expire(conn, kind)
            }
        }
    }

    private func expire(_ conn: Connection, _ kind: TimerKind) {
        switch conn.machine.timedOut(kind, inputEmpty: conn.input.isEmpty) {
        case .close:
            close(conn)
        case .refuse:
            if debugLogging { shared.logger.debug("request timed out", metadata: ["fd": "\(conn.fd)"]) }
            conn.input = []
            refuse(conn, status: 408, code: "request_timeout", message: "request not received in time")
            flush(conn)
            if alive(conn) { updateInterest(conn) }
        }
    }
}
