/// A complete request as a handler sees it.
package struct HTTPRequest: Sendable {
    /// The parsed head (method, path, query, fields, version).
    package var head: RequestHead
    /// The decoded body (empty when none was sent).
    package var body: [UInt8]
    /// Path parameters filled by the router (`/servers/{id}` gives `["id": ...]`).
    package var pathParameters: [String: String]
    /// The `x-correlation-id` the request carried (1-128 visible ASCII characters), or a random
    /// UUID made for it. Found once, when the request is made: every reader sees the same id.
    /// `CorrelationMiddleware`, which every listener runs first, echoes it.
    package let correlation: CorrelationID

    /// A request; its correlation id is the one it carries, else `made()`.
    package init(
        head: consuming RequestHead, body: consuming [UInt8], pathParameters: [String: String] = Dictionary(),
        made: @autoclosure () -> CorrelationID
    ) {
        correlation = head.fields["x-correlation-id"].flatMap(CorrelationID.init(given:)) ?? made()
        self.head = head
        self.body = body
        self.pathParameters = pathParameters
    }

    /// The correlation id as text.
    package var correlationID: String { correlation.description }

    package var method: String { head.method }
    package var path: String { head.path }
    package var query: String? { head.query }
    package var fields: HTTPFields { head.fields }
}
