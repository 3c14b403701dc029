import SidecarPosix

/// A complete request as a handler sees it.
public struct HTTPRequest: Sendable {
    /// The parsed head (method, path, query, fields, version).
    public var head: RequestHead
    /// The decoded body (empty when none was sent).
    public var body: [UInt8]
    /// Path parameters filled by the router (`/servers/{id}` gives `["id": ...]`).
    public var pathParameters: [String: String] = [:]
    /// The bits of the id made for a request that carried none: drawn once, so that every
    /// reader of `correlation` sees the same id.
    private let madeID: (UInt64, UInt64)

    /// A request; its correlation id is the one it carries or one made now.
    public init(head: consuming RequestHead, body: consuming [UInt8]) {
        self.head = head
        self.body = body
        madeID = (FastRandom.next(), FastRandom.next())
    }

    /// The `x-correlation-id` the request carried (1-128 visible ASCII characters), or a random
    /// UUID made for it. `CorrelationMiddleware`, which every listener runs first, echoes it.
    public var correlation: CorrelationID {
        head.fields["x-correlation-id"].flatMap(CorrelationID.init(given:)) ?? CorrelationID(random: madeID.0, madeID.1)
    }

    /// The correlation id as text.
    public var correlationID: String { correlation.description }

    public var method: String { head.method }
    public var path: String { head.path }
    public var query: String? { head.query }
    public var fields: HTTPFields { head.fields }
}
