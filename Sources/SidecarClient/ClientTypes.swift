import SidecarHTTP
import SidecarPosix

/// An outbound HTTP request for `CurlClient`.
public struct ClientRequest: Sendable {
    public var method: String
    /// Absolute http(s) URL.
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Per-request deadline (connect included); nil uses the client's default.
    public var timeout: Duration?

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// An answer: any HTTP status is an answer at this layer, not an error.
public struct ClientResponse: Sendable {
    public var status: Int
    public var headers: HTTPFields
    public var body: [UInt8]
    /// Time from hand-over to completion.
    public var duration: Duration
    /// Connections curl had to open for this request (0 when it reused one).
    public var newConnections: Int

    public init(status: Int, headers: HTTPFields, body: [UInt8], duration: Duration, newConnections: Int = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.duration = duration
        self.newConnections = newConnections
    }
}

/// Client-wide settings.
public struct ClientConfiguration: Sendable {
    /// Longest time to establish a connection.
    public var connectTimeout: Duration
    /// Default per-request deadline.
    public var requestTimeout: Duration
    /// Largest response body kept; above it the transfer fails with `.tooLarge`.
    public var maxResponseBytes: Int
    /// CA bundle for TLS verification (nil: the system's). Verification is always on.
    public var caBundle: String?
    /// Most connections open at once across hosts (curl queues the rest).
    public var maxConnections: Int
    /// Most connections per host and port; further requests queue for a free one.
    public var maxConnectionsPerHost: Int
    /// How long our own client (`HTTP1Engine`) keeps an unused connection open.
    public var idleTimeout: Duration
    /// Whether the proxy variables of the environment (`http_proxy`, `no_proxy`, ...) apply.
    /// The fan-out turns them off: its peers are inside the cluster, and libcurl would read the
    /// environment again for every request.
    public var environmentProxies: Bool

    public init(
        connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(10), maxResponseBytes: Int = 4 << 20,
        caBundle: String? = nil,
        maxConnections: Int = 256, maxConnectionsPerHost: Int = 8, environmentProxies: Bool = true, idleTimeout: Duration = .seconds(60)
    ) {
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
        self.caBundle = caBundle
        self.maxConnections = maxConnections
        self.maxConnectionsPerHost = maxConnectionsPerHost
        self.environmentProxies = environmentProxies
    }
}

/// Why a request got no answer. A struct over a private code: `label` is payload-free and fit
/// for metrics; `message` is safe for logs (it never holds headers, bodies or tokens).
public struct ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as a closed set: decisions (retries, metrics) switch on it.
    public enum Code: String, Sendable, CaseIterable {
        case connect, timeout, tls
        case tooLarge = "too_large"
        case cancelled, io
        case badRequest = "bad_request"
        case shutdown
        /// The node's answer was malformed or ambiguous (our own client only).
        case badResponse = "bad_response"

        /// Whether the request may succeed if sent again (connect, timeout, io).
        public var isTransient: Bool { self == .connect || self == .timeout || self == .io }
    }

    /// What went wrong.
    public let code: Code
    public let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `connect`, `timeout`, `tls`, `too_large`, `cancelled`, `io`, `bad_request`, `shutdown`,
    /// `bad_response`.
    public var label: String { code.rawValue }
    public var description: String { "\(label): \(message)" }

    /// An answer our parser refused: `too_large`, `bad_response`, or `io` when it was cut short.
    public init(parsing error: ResponseParseError) {
        switch error.kind {
        case .tooLarge: self.init(.tooLarge, error.message)
        case .malformed: self.init(.badResponse, error.message)
        case .truncated: self.init(.io, error.message)
        }
    }

    public static let connect = ClientError(.connect, "could not connect")
    public static let timeout = ClientError(.timeout, "timed out")
    public static let tls = ClientError(.tls, "TLS failure")
    public static let tooLarge = ClientError(.tooLarge, "response body over the limit")
    public static let cancelled = ClientError(.cancelled, "cancelled")
    public static let io = ClientError(.io, "connection failed mid-transfer")
    public static let badRequest = ClientError(.badRequest, "request could not be built")
    public static let shutdown = ClientError(.shutdown, "client shut down")

    public static func == (a: ClientError, b: ClientError) -> Bool { a.code == b.code }
}
