/// An event loop that event sources join: their sockets and deadlines are served by the loop's
/// own epoll and thread, so their callbacks need no hand-over. The HTTP server's connections
/// are one such source; the client's curl engine is another, on the server's loops (the
/// fan-out) or on a loop of its own (`CurlClient`).
///
/// Thread-bound: every method but those marked "any thread" must be called on the reactor's
/// own thread (checked by `assertInLoop()` in debug builds). It is `Sendable` only so that a
/// handle to it can travel with work that comes back to it.
package protocol Reactor: AnyObject, Sendable {
    /// Watches `fd` for `events` (`EPOLLIN`, `EPOLLOUT`) on behalf of `source`, replacing what
    /// was watched before; `isNew` says whether `fd` is watched for the first time. `token`
    /// (at most 48 bits) is handed back to `source.ready`.
    func watch(_ fd: Int32, events: UInt32, token: UInt64, isNew: Bool, for source: any ReactorSource)
    /// Stops watching `fd`.
    func unwatch(_ fd: Int32)
    /// The source kept under `key` on this reactor, made by `make` on first use; closed with it.
    func local<Source: ReactorSource>(_ key: ObjectIdentifier, make: () -> Source) -> Source
    /// Runs `work` on the reactor's thread after the current round of events (any thread).
    func execute(_ work: @escaping @Sendable () -> Void)
    /// Whether the calling thread is the reactor's own (any thread).
    var inLoop: Bool { get }
}

extension Reactor {
    /// Watches `fd` with the descriptor itself as the token.
    package func watch(_ fd: Int32, events: UInt32, isNew: Bool, for source: any ReactorSource) {
        watch(fd, events: events, token: UInt64(UInt32(bitPattern: fd)), isNew: isNew, for: source)
    }

    /// Traps in debug builds unless called on the reactor's thread (NIO's `assertInEventLoop`).
    @inline(__always) package func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inLoop, "called off the reactor's thread", file: file, line: line)
    }
}

/// An event source served by a `Reactor`, always on the reactor's thread.
package protocol ReactorSource: AnyObject {
    /// A descriptor watched under `token` is ready for `events` (epoll's bits).
    func ready(_ token: UInt64, events: UInt32)
    /// When `fire` is next due, or nil.
    var deadline: MonotonicInstant? { get }
    /// The deadline has come (`now` is the reactor's time of this round).
    func fire(now: MonotonicInstant)
    /// The reactor is stopping: end everything, once.
    func close()
}
