/// How a request's body is delimited.
package enum BodyFraming: Sendable, Equatable {
    /// No body.
    case none
    /// `Content-Length` bytes follow the head.
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

/// The HTTP version of a request (1.0 or 1.1; a 1.x above 1 is read as 1.1).
package enum HTTPVersion: Sendable, Equatable {
    case http10
    case http11
}

/// A parsed and validated request head (request line and header fields).
package struct RequestHead: Sendable {
    /// The method as sent (case-sensitive token).
    package var method: String
    /// The path part of the target (absolute-form targets are reduced to it), before `?`.
    package var path: String
    /// The path as sent when it held dot segments (then `path` is the resolved one); else nil.
    package var pathAsSent: String?
    /// The query after `?`, without it; nil when absent.
    package var query: String?
    /// The request-target as sent.
    package var target: String
    package var version: HTTPVersion
    package var fields: HTTPFields
    package var framing: BodyFraming
    /// Whether the connection stays open after this exchange (version and `Connection`).
    package var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    package var expectsContinue: Bool

    /// Whether a body is to be read after the head.
    package var hasBody: Bool {
        switch framing {
        case .none: false
        case .length(let n): n > 0
        case .chunked: true
        }
    }
}

/// The limits the parser enforces; the server takes them from its configuration.
package struct ParserLimits: Sendable, Equatable {
    /// Longest request-target, in bytes (414 above).
    package var maxTargetBytes: Int
    /// Largest header block after the request line, in bytes (431 above).
    package var maxHeaderBytes: Int
    /// Most header fields (431 above).
    package var maxHeaderFields: Int
    /// Largest request body, in bytes (413 above).
    package var maxBodyBytes: Int

    package init(maxTargetBytes: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderFields: Int = 100, maxBodyBytes: Int = 1 << 20) {
        self.maxTargetBytes = maxTargetBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderFields = maxHeaderFields
        self.maxBodyBytes = maxBodyBytes
    }
}
