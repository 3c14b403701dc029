import SidecarHTTP
import SidecarPosix
import SidecarTLS

/// An outbound HTTP request for `CurlClient`.
package struct ClientRequest: Sendable {
    package var method: String
    /// Absolute http(s) URL.
    package var url: String
    package var headers: [(String, String)]
    package var body: [UInt8]
    /// Per-request deadline (connect included); nil uses the client's default.
    package var timeout: Duration?
    /// Receives the answer's body piece by piece as it arrives (a stream: etcd's watch) instead
    /// of the client keeping it; called on the client's thread, in order. Returning false ends
    /// the transfer (as cancelled). The response then has an empty body.
    package var bodySink: (@Sendable (UnsafeRawBufferPointer) -> Bool)?

    package init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// An answer: any HTTP status is an answer at this layer, not an error.
package struct ClientResponse: Sendable {
    package var status: Int
    package var headers: HTTPFields
    package var body: [UInt8]
    /// Time from hand-over to completion.
    package var duration: Duration
    /// Connections curl had to open for this request (0 when it reused one).
    package var newConnections: Int

    package init(status: Int, headers: HTTPFields, body: [UInt8], duration: Duration, newConnections: Int = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.duration = duration
        self.newConnections = newConnections
    }
}

/// Client-wide settings.
package struct ClientConfiguration: Sendable {
    /// Longest time to establish a connection.
    package var connectTimeout: Duration
    /// Default per-request deadline.
    package var requestTimeout: Duration
    /// Largest response body kept; above it the transfer fails with `.tooLarge`.
    package var maxResponseBytes: Int
    /// CA bundle for TLS verification (nil: the system's). Verification is always on.
    package var caBundle: String?
    /// The client certificate (PEM chain) and its key, presented when a server asks.
    package var clientCertificate: String?
    package var clientKey: String?
    /// The lowest TLS version ("1.2" or "1.3"; nil: libcurl's default).
    package var tlsMinimum: String?
    /// Our own client's TLS (the same trust, certificate and versions as above): with it,
    /// `https://` nodes at an address or a name are ours too; without, libcurl's.
    package var tls: TLSClientContext?
    /// Most connections open at once across hosts (curl queues the rest).
    package var maxConnections: Int
    /// Most connections per host and port; further requests queue for a free one.
    package var maxConnectionsPerHost: Int
    /// How long our own client (`HTTP1Engine`) keeps an unused connection open.
    package var idleTimeout: Duration
    /// Whether the proxy variables of the environment (`http_proxy`, `no_proxy`, ...) apply.
    /// The fan-out turns them off: its peers are inside the cluster, and libcurl would read the
    /// environment again for every request.
    package var environmentProxies: Bool
    /// TCP keep-alive probes on libcurl's connections after this long idle, every third of it
    /// (nil: none). A long-lived stream (etcd's watch) then learns within about four times this
    /// that its peer's host has gone without a word.
    package var keepAliveProbes: Duration? = nil

    package init(
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
package struct ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as a closed set: decisions (retries, metrics) switch on it.
    package enum Code: String, Sendable, CaseIterable {
        case connect, timeout, tls
        case tooLarge = "too_large"
        case cancelled, io
        case badRequest = "bad_request"
        case shutdown
        /// The node's answer was malformed or ambiguous (our own client only).
        case badResponse = "bad_response"
        /// Not sent: the fan-out has ejected the node for failing (outlier detection).
        case ejected
        /// The node's host name did not resolve (our own client only).
        case dns

        /// Whether the request may succeed if sent again (connect, timeout, io).
        package var isTransient: Bool { self == .connect || self == .timeout || self == .io }
    }

    /// What went wrong.
    package let code: Code
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `connect`, `timeout`, `tls`, `too_large`, `cancelled`, `io`, `bad_request`, `shutdown`,
    /// `bad_response`, `ejected`, `dns`.
    package var label: String { code.rawValue }
    package var description: String { "\(label): \(message)" }

    /// An answer our parser refused: `too_large`, `bad_response`, or `io` when it was cut short.
    package init(parsing error: ResponseParseError) {
        switch error.kind {
        case .tooLarge: self.init(.tooLarge, error.message)
        case .malformed: self.init(.badResponse, error.message)
        case .truncated: self.init(.io, error.message)
        }
    }

    package static let connect = ClientError(.connect, "could not connect")
    package static let timeout = ClientError(.timeout, "timed out")
    package static let tls = ClientError(.tls, "TLS failure")
    package static let tooLarge = ClientError(.tooLarge, "response body over the limit")
    package static let cancelled = ClientError(.cancelled, "cancelled")
    package static let io = ClientError(.io, "connection failed mid-transfer")
    package static let badRequest = ClientError(.badRequest, "request could not be built")
    package static let shutdown = ClientError(.shutdown, "client shut down")

    package static func == (a: ClientError, b: ClientError) -> Bool { a.code == b.code }
}
