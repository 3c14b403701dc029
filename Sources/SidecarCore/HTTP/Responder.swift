/// Delivers the answer of a deferred request to the event loop that owns its connection.
/// Call `respond` exactly once, from any thread; later calls are ignored by the loop.
public struct Responder: Sendable {
    let deliver: @Sendable (HTTPResponse) -> Void

    /// A responder calling `deliver` (tests use it to capture answers).
    public init(_ deliver: @escaping @Sendable (HTTPResponse) -> Void) {
        self.deliver = deliver
    }

    public func respond(_ response: HTTPResponse) { deliver(response) }
}
