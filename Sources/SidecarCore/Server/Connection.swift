/// One accepted connection's state. Confined to the event loop that accepted it.
final class Connection {
    enum Phase {
        /// Waiting for (more of) a request head.
        case head
        /// Reading the body of `head`.
        case body
        /// A handler answers later; reading is paused to keep answers in order.
        case awaiting(Pending)
        /// A final answer is queued; nothing more is read as a request.
        case closing
        /// Our side is shut; the peer's bytes are read and dropped until it closes.
        case lingering
    }

    /// What the answer of a deferred request needs to know about it.
    struct Pending {
        var omitBody: Bool
        var version: HTTPVersion
        var keepAlive: Bool
        var correlationID: CorrelationID
    }

    let fd: Int32
    let generation: UInt32
    let listener: Int
    var phase: Phase = .head
    /// Received bytes not yet consumed (a partial request, or requests behind a deferred one).
    var pending: [UInt8] = []
    /// Bytes to send.
    var out: [UInt8] = []
    var head: RequestHead?
    var decoder: BodyDecoder?
    var body: [UInt8] = []
    /// The peer closed its side.
    var peerClosed = false
    /// The epoll events currently registered.
    var interest: UInt32 = 0
    var requests = 0

    // Intrusive timer list links (by fd); see EventLoop+Timers.
    var timer: TimerKind?
    var timerPrev: Int32 = -1
    var timerNext: Int32 = -1
    var deadline: UInt64 = 0

    init(fd: Int32, generation: UInt32, listener: Int) {
        self.fd = fd
        self.generation = generation
        self.listener = listener
    }

    var isAwaiting: Bool {
        if case .awaiting = phase { return true }
        return false
    }
}

/// The kinds of deadline a connection can wait on; each has one fixed duration per loop.
enum TimerKind: Int, CaseIterable {
    case header, idle, body, send, linger
}
