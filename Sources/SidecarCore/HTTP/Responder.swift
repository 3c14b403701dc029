/// Delivers the answer of a deferred request to the event loop that owns its connection.
/// Call `respond` exactly once, from any thread; later calls are ignored by the loop.
public struct Responder: Sendable {
    let deliver: @Sendable (HTTPResponse) -> Void
    /// The event loop the request arrived on, when there is one: work started from the
    /// handler (on that loop's thread) can join it instead of handing over to another thread.
    public let reactor: (any Reactor)?

    /// A responder calling `deliver` (tests use it to capture answers).
    public init(reactor: (any Reactor)? = nil, _ deliver: @escaping @Sendable (HTTPResponse) -> Void) {
        self.reactor = reactor
        self.deliver = deliver
    }

    public func respond(_ response: HTTPResponse) { deliver(response) }
}
