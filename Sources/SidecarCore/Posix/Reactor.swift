/// An event loop that other event sources can join: their sockets and deadlines are served
/// by the loop's own epoll and thread, so their callbacks need no hand-over. The curl engine
/// joins the server's event loops this way (the fan-out), and the client's own thread.
///
/// `Sendable` only so that it can travel with a `Responder`: every method must be called on
/// the reactor's own thread.
public protocol Reactor: AnyObject, Sendable {
    /// Watches `fd` for `events` (`EPOLLIN`, `EPOLLOUT`) on behalf of `source`, replacing what
    /// was watched before; `isNew` says whether `fd` is watched for the first time.
    func watch(_ fd: Int32, events: UInt32, isNew: Bool, for source: ReactorSource)
    /// Stops watching `fd`.
    func unwatch(_ fd: Int32)
    /// The source kept under `key` on this reactor, made by `make` on first use; closed with it.
    func local(_ key: ObjectIdentifier, make: () -> ReactorSource) -> ReactorSource
}

/// An event source served by a `Reactor`, on the reactor's thread.
public protocol ReactorSource: AnyObject {
    /// `fd` is ready for `events` (epoll's bits).
    func ready(_ fd: Int32, events: UInt32)
    /// When `fire` is next due (monotonic nanoseconds), or nil.
    var deadline: UInt64? { get }
    /// The deadline has come.
    func fire()
    /// The reactor is stopping: end everything, once.
    func close()
}
