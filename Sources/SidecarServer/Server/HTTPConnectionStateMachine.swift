import SidecarHTTP

/// The deadlines a connection can wait on; each has one duration per server.
package enum TimerKind: Int, CaseIterable, Sendable {
    /// Receiving a request head (from accept, or from its first byte).
    case header
    /// Between requests on a kept-alive connection.
    case idle
    /// Receiving a request body.
    case body
    /// The peer is not reading our answer.
    case send
    /// After our final answer: reading and dropping the peer's bytes until it closes.
    case linger
    /// Draining: a connection accepted before the drain that has sent nothing yet waits this
    /// long for its request (its client has most likely sent it already) instead of closing.
    case drainGrace
}

/// One HTTP/1.1 server connection as a pure state machine: bytes and events in, one action at
/// a time out. No I/O, no clock, no allocation beyond the request it assembles: the server
/// (the shell) reads and writes the socket, keeps the timers and runs the handlers, and asks
/// the machine what each event means. Tests drive it with byte strings.
///
/// States and their legal moves:
/// - `idle`: between requests (idle timer) → `head` on the first byte.
/// - `head`: receiving a request head (header timer; a new connection starts here) →
///   `body` when the head announces one, `awaiting` when it does not, `closing` on a refusal.
/// - `body`: receiving the body (body timer) → `awaiting` once complete, `closing` on a refusal.
/// - `awaiting`: a handler has the request; nothing more is parsed, reading pauses →
///   `idle` when the answer keeps the connection, `closing` when it does not, `streaming` when
///   the answer's body follows its head piece by piece.
/// - `streaming`: the head is sent and the body goes out as it is made; reading stays paused
///   (the send timer runs only while the peer does not read) → `idle` or `closing` at its end.
/// - `closing`: a final answer is queued; bytes that come are dropped → `lingering` once it
///   is sent (or closed at once when the peer has gone).
/// - `lingering`: our side is shut, the peer's bytes are dropped until it closes (linger timer).
package struct HTTPConnectionStateMachine: Sendable {
    /// What the answer of the current request needs to know about it.
    package struct Pending: Sendable, Equatable {
        package var omitBody: Bool
        package var version: HTTPVersion
        package var keepAlive: Bool

        /// The answer to a refused request: HTTP/1.1, with its body, closing.
        package static let refusal = Pending(omitBody: false, version: .http11, keepAlive: false)
    }

    /// The states (see above). The request under way lives beside the state, not in it: a
    /// small state is cheap to change on every request, a large enum payload is not.
    package enum State: Sendable, Equatable {
        case idle
        case head
        /// Receiving the body of `bodyHead`.
        case body
        /// A handler has the request; `pending` describes its answer.
        case awaiting
        /// The answer's head is out, its body follows as it is made.
        case streaming
        case closing
        case lingering
    }

    /// What the shell does after feeding bytes.
    package enum ParseStep {
        /// Nothing more in these bytes for now: keep what was not used, read more (or wait).
        case needMore
        /// Arm this timer, then feed the rest.
        case arm(TimerKind)
        /// Write `100 Continue`, then feed the rest.
        case sendContinue
        /// A complete request: run its handler. The machine awaits `answer`.
        case request(RequestHead, body: [UInt8])
        /// A malformed request: answer it with `Pending.refusal`; nothing after it is read.
        case refuse(HTTPParseError)
        /// The bytes are dropped (closing or lingering).
        case discard
    }

    /// After `answer`: what becomes of the connection once the answer is queued.
    package enum AnswerAction: Equatable {
        /// It stays for the next request: arm the idle timer.
        case keepAlive
        /// It closes after the answer (the machine says how once the answer is sent).
        case closeAfterwards
    }

    /// After `flushed`: the output buffer has emptied.
    package enum FlushAction: Equatable {
        /// Nothing to do.
        case none
        /// The send timer was running: the connection is idle again, arm the idle timer.
        case rearmIdle
        /// The final answer is out: shut our side for writing and arm the linger timer.
        case shutdownAndLinger
        /// A streamed body's reader caught up: stop the send timer (the body may take its time).
        case stopSendTimer
        case close
    }

    /// After `peerHungUp`.
    package enum HangUpAction: Equatable {
        /// Keep going: an answer is still to come or to be sent; it closes after.
        case finishAnswer
        case close
    }

    /// After `timedOut`.
    package enum TimeoutAction: Equatable {
        case close
        /// A request was under way: answer 408 with `Pending.refusal`, then close.
        case refuse
    }

    package private(set) var state: State = .head
    /// The peer closed its side.
    package private(set) var peerClosed = false
    /// In `body`: the head whose body is under way, and the body's decoder.
    private var bodyHead: RequestHead?
    private var decoder = BodyDecoder(framing: .none, maxBodyBytes: 0)
    /// In `awaiting`: what the answer needs to know.
    private var pending = Pending.refusal
    private var body: [UInt8] = []
    private let limits: ParserLimits

    /// A machine for a connection just accepted (the header timer is armed by the shell).
    package init(limits: ParserLimits) { self.limits = limits }

    /// Whether a handler holds the current request and has not answered yet.
    package var isAwaiting: Bool {
        state == .awaiting
    }

    /// Whether the current request's answer is still being made (awaited or streamed):
    /// reading pauses meanwhile.
    package var holdsRequest: Bool {
        state == .awaiting || state == .streaming
    }

    /// Whether the answer's body is being streamed.
    package var isStreaming: Bool { state == .streaming }

    /// Whether the connection is between requests with nothing half-received or unsent.
    package func isIdle(inputEmpty: Bool, outputEmpty: Bool) -> Bool {
        switch state {
        case .idle, .head: return inputEmpty && outputEmpty
        default: return false
        }
    }

    // MARK: events

    /// Feeds received bytes; `used` is how many it consumed. Call again until `.needMore`.
    package mutating func parse(_ buf: UnsafeRawBufferPointer, used: inout Int) -> ParseStep {
        used = 0
        switch state {
        case .idle:
            guard !buf.isEmpty else { return .needMore }
            state = .head
            return .arm(.header)
        case .head:
            guard !buf.isEmpty else { return .needMore }
            switch RequestHeadParser.parse(buf, limits: limits) {
            case .incomplete:
                return .needMore
            case .failure(let error):
                return refuse(error, &used, buf.count)
            case .complete(let head, let consumed):
                used = consumed
                guard head.hasBody else { return dispatch(head, body: []) }
                if case .length(let n) = head.framing { body.reserveCapacity(n) }
                let expectsContinue = head.expectsContinue
                decoder = BodyDecoder(
                    framing: head.framing, maxBodyBytes: limits.maxBodyBytes, maxTrailerBytes: limits.maxHeaderBytes,
                    maxTrailerFields: limits.maxHeaderFields)
                bodyHead = head
                state = .body
                // Ask for the body only when none of it came with the head.
                return expectsContinue && consumed == buf.count ? .sendContinue : .arm(.body)
            }
        case .body:
            guard !buf.isEmpty else { return .needMore }
            do {
                used = try decoder.decode(buf, into: &body)
            } catch {
                return refuse(error, &used, buf.count)
            }
            guard decoder.isComplete else { return .needMore }
            guard let head = bodyHead.take() else { preconditionFailure("a body without its head") }
            let complete = body
            body = []
            return dispatch(head, body: complete)
        case .awaiting, .streaming:
            return .needMore
        case .closing, .lingering:
            used = buf.count
            return .discard
        }
    }

    /// The head of the request whose body is being asked for with `100 Continue`.
    package var headAwaitingBody: RequestHead? { state == .body ? bodyHead : nil }

    /// Answers the request waiting for `100 Continue` from its head alone: its body is never
    /// read (what arrives is discarded) and the connection closes after the answer.
    package mutating func answerBeforeBody() -> Pending {
        precondition(state == .body, "no request waits for its body")
        let head = bodyHead.take()
        body = []
        state = .closing
        return Pending(omitBody: head?.method == "HEAD", version: head?.version ?? .http11, keepAlive: false)
    }

    /// The handler answered; returns how to write the answer. The connection stays when the
    /// request and the answer allow it, the peer is still there and the server is not draining.
    package mutating func answer(closeRequested: Bool, draining: Bool) -> (Pending, AnswerAction) {
        precondition(state == .awaiting, "answer without a request")
        pending.keepAlive = pending.keepAlive && !closeRequested && !peerClosed && !draining
        state = pending.keepAlive ? .idle : .closing
        return (pending, pending.keepAlive ? .keepAlive : .closeAfterwards)
    }

    /// The handler answered with a head whose body follows piece by piece; returns how to write
    /// it. On HTTP/1.1 the body is chunked and the connection may stay; on HTTP/1.0 the body
    /// ends with the connection.
    package mutating func beginStream(closeRequested: Bool, draining: Bool) -> Pending {
        precondition(state == .awaiting, "a streamed answer without a request")
        pending.keepAlive = pending.keepAlive && pending.version == .http11 && !closeRequested && !peerClosed && !draining
        state = .streaming
        return pending
    }

    /// Whether the streamed body is chunked (else it ends with the connection).
    package var streamsChunked: Bool { pending.version == .http11 }

    /// The streamed body has ended (its last piece is queued). The connection stays when it
    /// was to stay and the peer and the server still allow it.
    package mutating func endStream(draining: Bool) -> AnswerAction {
        precondition(state == .streaming, "no streamed answer")
        pending.keepAlive = pending.keepAlive && !peerClosed && !draining
        state = pending.keepAlive ? .idle : .closing
        return pending.keepAlive ? .keepAlive : .closeAfterwards
    }

    /// The output buffer emptied. `draining`: the server stops; an idle connection closes.
    package mutating func flushed(sendTimerArmed: Bool, draining: Bool, inputEmpty: Bool) -> FlushAction {
        switch state {
        case .closing:
            if peerClosed { return .close }
            state = .lingering
            return .shutdownAndLinger
        case .idle, .head:
            if draining && inputEmpty { return .close }
            return sendTimerArmed ? .rearmIdle : .none
        case .streaming:
            return sendTimerArmed ? .stopSendTimer : .none
        case .body, .awaiting, .lingering:
            return .none
        }
    }

    /// The peer closed its side (read returned 0).
    package mutating func peerHungUp(outputEmpty: Bool) -> HangUpAction {
        peerClosed = true
        switch state {
        case .awaiting, .streaming:
            return .finishAnswer  // answer first, then close
        case .closing:
            return outputEmpty ? .close : .finishAnswer
        case .idle, .head, .body, .lingering:
            if outputEmpty { return .close }
            state = .closing
            return .finishAnswer
        }
    }

    /// `kind`'s deadline passed. `inputEmpty`: no bytes of a request are held.
    package mutating func timedOut(_ kind: TimerKind, inputEmpty: Bool) -> TimeoutAction {
        switch kind {
        case .header, .drainGrace, .body:
            // A request was under way: say so (408) before closing; a silent connection just closes.
            if kind != .body && inputEmpty { return .close }
            body = []
            bodyHead = nil
            state = .closing
            return .refuse
        case .idle, .send, .linger:
            return .close
        }
    }

    // MARK: helpers

    private mutating func dispatch(_ head: consuming RequestHead, body: consuming [UInt8]) -> ParseStep {
        pending = Pending(omitBody: head.method == "HEAD", version: head.version, keepAlive: head.keepAlive)
        state = .awaiting
        return .request(head, body: body)
    }

    private mutating func refuse(_ error: HTTPParseError, _ used: inout Int, _ all: Int) -> ParseStep {
        used = all
        body = []
        bodyHead = nil
        state = .closing
        return .refuse(error)
    }
}
