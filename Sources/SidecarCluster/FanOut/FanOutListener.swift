import SidecarClient
import SidecarHTTP

/// Hears a fan-out's nodes one by one, as each has its final result: how a streamed answer
/// (`application/x-ndjson`) is written. It also paces the fan-out: while it `isBehind` (its
/// reader is slow) no more nodes are sent to, and once it `isCancelled` (its reader has gone)
/// the requests still running are cancelled and the rest are not sent.
package protocol FanOutListener: AnyObject, Sendable {
    /// The nodes the fan-out goes to, in cluster order; once, before any result.
    func begin(_ targets: [ServerInfo])
    /// Node `index` (in `begin`'s order) has its final result; on the thread running the node.
    /// Returns whether the result was taken for good: the fan-out then keeps only its status.
    func finished(_ index: Int, _ result: Result<ClientResponse, ClientError>) -> Bool
    /// Whether results should wait (the reader is behind).
    var isBehind: Bool { get }
    /// Whether the reader has gone.
    var isCancelled: Bool { get }
    /// Calls `resume` (any thread) once results may come again, or the reader has gone.
    func whenWritable(_ resume: @escaping @Sendable () -> Void)
    /// Calls `gone` (any thread) if the reader goes before the end.
    func onCancel(_ gone: @escaping @Sendable () -> Void)
}

extension ClientResponse {
    /// The answer with its body and fields let go: what a fan-out keeps of an answer a
    /// listener has already written (its status still counts in metrics and ejections).
    var spent: ClientResponse { ClientResponse(status: status, headers: HTTPFields(), body: [], duration: duration) }
}
