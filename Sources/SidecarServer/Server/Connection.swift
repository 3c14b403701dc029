import SidecarHTTP
import SidecarPosix
import SidecarTLS

/// One accepted connection: its protocol state (a pure machine) and the shell's buffers and
/// timer links. Confined to the event loop that accepted it.
final class Connection {
    let fd: Int32
    let generation: UInt32
    let listener: Int
    var machine: HTTPConnectionStateMachine
    /// How its bytes cross the socket (plain; TLS next).
    let transport: Transport
    /// Received bytes not yet consumed (a partial request, or requests behind a deferred one).
    var input: [UInt8] = []
    /// Bytes to send.
    var out: [UInt8] = []
    /// The epoll events currently registered.
    var interest: UInt32 = 0

    // Intrusive timer list links (by fd); see HTTPLoopServer+Timers.
    var timer: TimerKind?
    var timerPrev: Int32 = -1
    var timerNext: Int32 = -1
    var deadline: UInt64 = 0

    // The request being answered, for the observer (set only when there is one).
    var route = 0
    var method = MethodLabel.other
    /// Monotonic nanoseconds when the request was dispatched.
    var started: UInt64 = 0
    /// The body being streamed, and its answer's status (for the observer at its end).
    var stream: BodyStream?
    var streamStatus = 0

    init(fd: Int32, generation: UInt32, listener: Int, limits: ParserLimits, transport: Transport = .plain) {
        self.fd = fd
        self.transport = transport
        self.generation = generation
        self.listener = listener
        machine = HTTPConnectionStateMachine(limits: limits)
    }

    /// The reactor token: generation above the descriptor.
    var token: UInt64 { UInt64(generation) << 24 | UInt64(UInt32(bitPattern: fd)) }
}
