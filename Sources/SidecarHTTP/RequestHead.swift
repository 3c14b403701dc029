/// How a request's body is delimited.
public enum BodyFraming: Sendable, Equatable {
    /// No body.
    case none
    /// `Content-Length` bytes follow the head.
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

/// The HTTP version of a request (1.0 or 1.1; a 1.x above 1 is read as 1.1).
public enum HTTPVersion: Sendable, Equatable {
    case http10
    case http11
}

/// A parsed and validated request head (request line and header fields).
public struct RequestHead: Sendable {
    /// The method as sent (case-sensitive token).
    public var method: String
    /// The path part of the target (absolute-form targets are reduced to it), before `?`.
    public var path: String
    /// The path as sent when it held dot segments (then `path` is the resolved one); else nil.
    public var pathAsSent: String?
    /// The query after `?`, without it; nil when absent.
    public var query: String?
    /// The request-target as sent.
    public var target: String
    public var version: HTTPVersion
    public var fields: HTTPFields
    public var framing: BodyFraming
    /// Whether the connection stays open after this exchange (version and `Connection`).
    public var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    public var expectsContinue: Bool

    /// Whether a body is to be read after the head.
    public var hasBody: Bool {
        switch framing {
        case .none: false
        case .length(let n): n > 0
        case .chunked: true
        }
    }
}

/// The limits the parser enforces; the server takes them from its configuration.
public struct ParserLimits: Sendable, Equatable {
    /// Longest request-target, in bytes (414 above).
    public var maxTargetBytes: Int
    /// Largest header block after the request line, in bytes (431 above).
    public var maxHeaderBytes: Int
    /// Most header fields (431 above).
    public var maxHeaderFields: Int
    /// Largest request body, in bytes (413 above).
    public var maxBodyBytes: Int

    public init(maxTargetBytes: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderFields: Int = 100, maxBodyBytes: Int = 1 << 20) {
        self.maxTargetBytes = maxTargetBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderFields = maxHeaderFields
        self.maxBodyBytes = maxBodyBytes
    }
}
