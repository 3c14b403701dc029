/// A complete request as a handler sees it.
public struct HTTPRequest: Sendable {
    /// The parsed head (method, path, query, fields, version).
    public var head: RequestHead
    /// The decoded body (empty when none was sent).
    public var body: [UInt8]
    /// The `x-correlation-id` taken from the request or made for it (`CorrelationMiddleware`,
    /// which every listener runs first); echoed on the answer.
    public var correlation: CorrelationID
    /// The correlation id as text.
    public var correlationID: String { correlation.description }
    /// Path parameters filled by the router (`/servers/{id}` gives `["id": ...]`).
    public var pathParameters: [String: String] = [:]

    public init(head: RequestHead, body: [UInt8], correlation: CorrelationID = .unset) {
        self.head = head
        self.body = body
        self.correlation = correlation
    }

    public var method: String { head.method }
    public var path: String { head.path }
    public var query: String? { head.query }
    public var fields: HTTPFields { head.fields }
}
