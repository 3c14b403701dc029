import CSidecarSystem
import Glibc
import Synchronization

/// A reactor on a thread of its own: an epoll set, a mailbox of work from other threads, and
/// the event sources it hosts (the HTTP server's connections, a curl engine). It knows nothing
/// of what its sources speak.
///
/// Each round: wait for events (at most until the earliest source deadline), hand each to its
/// source, fire the sources whose deadline passed, then run the work the mailbox received.
package final class EventLoop: Reactor, @unchecked Sendable {  // state on its thread only (asserted); mailbox: a Mutex
    /// epoll data: the source's index in the top bits (below Epoll's wake-up bit), its token below.
    private static let tokenBits: UInt64 = 48
    private static let tokenMask: UInt64 = (1 << tokenBits) - 1

    /// A number for logs and tests.
    package let id: Int
    private let epoll: Epoll
    private let clock: any SidecarClock
    private let mailbox = Mutex<[@Sendable () -> Void]>([])
    /// The loop's thread (`pthread_t`; 0 until it runs), read by `execute` and `inLoop` on any thread.
    private let owner = Atomic<UInt>(0)
    /// Work was queued from the loop's own thread: do not sleep before running it.
    private var selfMail = false
    private var stopped = false
    private var sources: [(key: ObjectIdentifier?, source: any ReactorSource)] = []
    /// The time of this round's wake-up, read by sources to arm deadlines (loop thread).
    package private(set) var now: MonotonicInstant

    /// A loop whose epoll is ready; nothing runs until `run()` or `start()`.
    /// - Parameter clock: the time of its rounds and so of its sources' deadlines (a manual
    ///   clock in tests: the loop reads it when woken, e.g. by `execute`).
    package init(id: Int = 0, clock: any SidecarClock = SystemClock()) throws(SystemError) {
        self.id = id
        self.clock = clock
        epoll = try Epoll()
        now = clock.now
    }

    /// Whether the calling thread is the loop's (also true before the loop runs, while the
    /// thread that made it sets it up).
    package var inLoop: Bool {
        let thread = owner.load(ordering: .relaxed)
        return thread == 0 || thread == UInt(pthread_self())
    }

    /// Starts `run()` on a new thread.
    package func start() { PosixThread.spawn { [self] in run() } }

    /// Runs the loop on the calling thread until `stop()`; then closes every source.
    package func run() {
        owner.store(UInt(pthread_self()), ordering: .relaxed)
        while !stopped {
            epoll.wait(timeoutMS: selfMail ? 0 : nextTimeoutMS()) { events, data in
                sources[Int(data >> Self.tokenBits)].source.ready(data & Self.tokenMask, events: events)
            } before: {
                now = clock.now
            }
            now = clock.now
            for entry in sources {
                if let due = entry.source.deadline, due <= now { entry.source.fire(now: now) }
            }
            selfMail = false
            // Taken whole, leaving an empty array (no buffer to copy on write).
            let work = mailbox.withLock { m -> [@Sendable () -> Void] in
                defer { m = [] }
                return m
            }
            for item in work { item() }
        }
        for entry in sources { entry.source.close() }
        sources.removeAll()
    }

    /// Ends the loop after the work queued before this call (any thread).
    package func stop() {
        execute { [self] in stopped = true }
    }

    /// Runs `work` on the loop after the current round of events (any thread). Work the loop
    /// queues for itself needs no wake-up.
    package func execute(_ work: @escaping @Sendable () -> Void) {
        mailbox.withLock { $0.append(work) }
        if owner.load(ordering: .relaxed) == UInt(pthread_self()) {
            selfMail = true
        } else {
            epoll.wake()
        }
    }

    /// Adds `source` to the loop (loop thread, or before it runs); its descriptors are watched
    /// with `watch(_:events:token:isNew:for:)`.
    package func host(_ source: any ReactorSource) {
        assertInLoop()
        sources.append((nil, source))
    }

    // MARK: Reactor (loop thread)

    package func watch(_ fd: Int32, events: UInt32, token: UInt64, isNew: Bool, for source: any ReactorSource) {
        assertInLoop()
        guard let index = sources.firstIndex(where: { $0.source === source }) else { return }
        epoll.watch(fd, events: events, data: UInt64(index) << Self.tokenBits | (token & Self.tokenMask), isNew: isNew)
    }

    package func unwatch(_ fd: Int32) {
        assertInLoop()
        epoll.remove(fd)
    }

    package func local<Source: ReactorSource>(_ key: ObjectIdentifier, make: () -> Source) -> Source {
        assertInLoop()
        if let existing = sources.first(where: { $0.key == key }) {
            guard let typed = existing.source as? Source else {
                preconditionFailure("reactor local \(key) holds a \(type(of: existing.source))")
            }
            return typed
        }
        let made = make()
        sources.append((key, made))
        return made
    }

    /// Milliseconds until the earliest source deadline (-1 when none), rounded up.
    private func nextTimeoutMS() -> Int32 {
        var earliest: MonotonicInstant?
        for entry in sources {
            if let due = entry.source.deadline, earliest.map({ due < $0 }) ?? true { earliest = due }
        }
        return Epoll.timeoutMS(until: earliest?.nanoseconds, now: clock.now.nanoseconds)
    }
}
