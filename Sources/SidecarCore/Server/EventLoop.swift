import CSidecarSystem
import Glibc
import Logging
import Synchronization

/// One event loop: a thread, an epoll set, and the connections it accepted.
///
/// Everything but `submit` runs on the loop's own thread. Handlers that answer later hand
/// their answer back through `submit`, which queues it and wakes the loop. Other event sources
/// (the fan-out's curl engine) join the loop as a `Reactor`: their sockets share its epoll.
final class EventLoop: Reactor, @unchecked Sendable {  // loop state is confined to its thread; the mailbox is a Mutex
    enum Message: Sendable {
        case completion(fd: Int32, generation: UInt32, response: HTTPResponse)
        case drain
        case stop
    }

    // epoll data: a connection is generation << 32 | fd, with generations kept below bit 29
    // so that they never reach the tags; a listener is listenerTag | index; a source's socket
    // is sourceTag | source index << 32 | fd (Epoll's wake-up is 1 << 63).
    static let listenerTag: UInt64 = 1 << 62
    static let sourceTag: UInt64 = 1 << 61
    static let generationMask: UInt32 = (1 << 29) - 1

    let id: Int
    let shared: ServerShared
    let epoll: Epoll
    private let mailbox = Mutex<[Message]>([])
    /// The loop's thread (`pthread_t`; 0 until it runs), read by `submit` on any thread:
    /// messages the loop sends itself need no wake-up.
    private let owner = Atomic<UInt>(0)
    /// A message was queued from the loop's own thread: do not sleep before reading it.
    private var selfMail = false
    /// Event sources that joined the loop, with the keys they were made under.
    private(set) var locals: [(key: ObjectIdentifier, source: ReactorSource)] = []

    var connections: [Connection?] = []
    let readBuffer: UnsafeMutableRawBufferPointer
    var now: UInt64 = 0
    var nextGeneration: UInt32 = 0
    var dateCache = DateCache()
    let statusLines = StatusLines()
    /// Read once: a per-request level check would copy the logger (and retain its handler).
    let debugLogging: Bool
    var random: WyRand
    var listening = true
    var stopped = false
    // Timer list heads and tails by `TimerKind.rawValue` (fds; -1 for none).
    var timerHead = [Int32](repeating: -1, count: TimerKind.allCases.count)
    var timerTail = [Int32](repeating: -1, count: TimerKind.allCases.count)

    static let readBufferSize = 64 * 1024

    deinit {
        readBuffer.deallocate()
    }

    init(id: Int, shared: ServerShared) throws(SystemError) {
        self.id = id
        self.shared = shared
        epoll = try Epoll()
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        debugLogging = shared.logger.logLevel <= .debug
        random = WyRand(seed: UInt64.random(in: 0...UInt64.max))
        for (k, listener) in shared.listeners.enumerated() {
            try epoll.add(listener.fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, data: Self.listenerTag | UInt64(k))
        }
    }

    /// Hands a message to the loop from any thread; it is read after the current round of events.
    func submit(_ message: Message) {
        mailbox.withLock { $0.append(message) }
        if owner.load(ordering: .relaxed) == UInt(pthread_self()) {
            selfMail = true
        } else {
            epoll.wake()
        }
    }

    /// Runs the loop on the calling thread until it receives `.stop`.
    func run() {
        owner.store(UInt(pthread_self()), ordering: .relaxed)
        while !stopped {
            epoll.wait(timeoutMS: selfMail ? 0 : nextTimeoutMS()) { events, data in
                now = csidecar_monotonic_ns()
                if data & Self.listenerTag != 0 {
                    acceptAll(listener: Int(data & 0xFFFF))
                } else if data & Self.sourceTag != 0 {
                    locals[Int((data >> 32) & 0xFFFF)].source.ready(Int32(truncatingIfNeeded: data), events: events)
                } else {
                    handle(events: events, fd: Int32(truncatingIfNeeded: data), generation: UInt32(truncatingIfNeeded: data >> 32))
                }
            }
            now = csidecar_monotonic_ns()
            for (_, source) in locals {
                if let due = source.deadline, due <= now { source.fire() }
            }
            expireTimers()
            selfMail = false
            let messages = mailbox.withLock { m -> [Message] in
                defer { m.removeAll() }
                return m
            }
            for message in messages { receive(message) }
        }
        for (_, source) in locals { source.close() }
        locals.removeAll()
    }

    // MARK: Reactor (loop thread only)

    func watch(_ fd: Int32, events: UInt32, isNew: Bool, for source: ReactorSource) {
        guard let index = locals.firstIndex(where: { $0.source === source }) else { return }
        epoll.watch(fd, events: events, data: Self.sourceTag | UInt64(index) << 32 | UInt64(UInt32(bitPattern: fd)), isNew: isNew)
    }

    func unwatch(_ fd: Int32) { epoll.remove(fd) }

    func local(_ key: ObjectIdentifier, make: () -> ReactorSource) -> ReactorSource {
        if let existing = locals.first(where: { $0.key == key }) { return existing.source }
        let made = make()
        locals.append((key, made))
        return made
    }

    private func receive(_ message: Message) {
        switch message {
        case .completion(let fd, let generation, let response):
            guard let conn = connection(fd, generation), case .awaiting(let pending) = conn.phase else { return }
            finish(conn, response, pending)
            resumeAfterAnswer(conn)
        case .drain:
            stopListening()
            for case let conn? in connections where isIdle(conn) { close(conn) }
        case .stop:
            stopListening()
            for case let conn? in connections { close(conn) }
            stopped = true
        }
    }

    private func stopListening() {
        guard listening else { return }
        listening = false
        for listener in shared.listeners { epoll.remove(listener.fd) }
        if shared.loopsListening.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            for listener in shared.listeners { Glibc.close(listener.fd) }
        }
    }

    func isIdle(_ conn: Connection) -> Bool {
        if case .head = conn.phase, conn.pending.isEmpty, conn.out.isEmpty { return true }
        return false
    }

    func connection(_ fd: Int32, _ generation: UInt32) -> Connection? {
        guard fd >= 0, Int(fd) < connections.count, let conn = connections[Int(fd)], conn.generation == generation else {
            return nil
        }
        return conn
    }

    private func acceptAll(listener index: Int) {
        guard listening else { return }
        let listener = shared.listeners[index]
        for _ in 0..<256 {
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
            let open = shared.connections.add(1, ordering: .relaxed).newValue
            if open > shared.configuration.maxConnections {
                shared.connections.subtract(1, ordering: .relaxed)
                shared.rejected.add(1, ordering: .relaxed)
                Glibc.close(fd)
                continue
            }
            Socket.setNoDelay(fd)
            nextGeneration = (nextGeneration &+ 1) & Self.generationMask
            let conn = Connection(fd: fd, generation: nextGeneration, listener: index)
            while connections.count <= Int(fd) { connections.append(nil) }
            connections[Int(fd)] = conn
            conn.interest = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            do {
                try epoll.add(fd, events: conn.interest, data: tag(conn))
            } catch {
                connections[Int(fd)] = nil
                shared.connections.subtract(1, ordering: .relaxed)
                Glibc.close(fd)
                continue
            }
            arm(conn, .header)
        }
    }

    @inline(__always) func tag(_ conn: Connection) -> UInt64 {
        UInt64(conn.generation) << 32 | UInt64(UInt32(bitPattern: conn.fd))
    }

    /// Closes the connection at once and forgets it.
    func close(_ conn: Connection) {
        disarm(conn)
        connections[Int(conn.fd)] = nil
        epoll.remove(conn.fd)
        Glibc.close(conn.fd)
        shared.connections.subtract(1, ordering: .relaxed)
    }
}

/// A small, fast, non-cryptographic generator for correlation ids (wyrand).
struct WyRand: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0xa076_1d64_78bd_642f
        let m = state.multipliedFullWidth(by: state ^ 0xe703_7ed1_a0b4_28db)
        return m.high ^ m.low
    }
}
