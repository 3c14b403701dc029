import Logging
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarSettings
import SidecarTLS

/// The sidecar's settings, resolved and checked.
package struct SidecarConfiguration: Sendable {
    /// The first of `mitURLs`.
    package var mitURL: String? { mitURLs.first }
    /// The registry's URLs (`MIT_URL`, comma-separated): one is used, the next on trouble.
    package var mitURLs: [String] = []
    package var serverType: String?
    package var serverID: String?
    package var serverURL: String?
    /// nil: derived at start-up from the host address and the bound cluster port.
    package var clusterURL: String?
    package var clusterManagement = true
    package var localAddress = SocketAddress(host: "127.0.0.1", port: 8461)!
    package var clusterAddress = SocketAddress(host: "0.0.0.0", port: 8460)!
    package var registrationRetry: Duration = .seconds(10)
    package var registrationConcurrentDelay: Duration = .seconds(60)
    package var leaseTimeDefault: Duration = .seconds(7200)
    /// The first of `oauthTokenURLs`.
    package var oauthTokenURL: String? { oauthTokenURLs.first }
    /// The token endpoint's URLs (`OAUTH_TOKEN_URL`, comma-separated), tried in turn.
    package var oauthTokenURLs: [String] = []
    package var oauthClientID: String?
    package var oauthClientSecret: Secret?
    package var mitToken: Secret?
    package var jwtSecret: Secret?
    package var jwtPublicKeyFile: String?
    package var jwtIssuer: String?
    package var jwtAudience: String?
    package var localAPIToken: Secret?
    package var applicationHealthURL: String?
    /// `PID_FILE`: written once listening, removed on exit.
    package var pidFile: String?
    package var drainTimeout: Duration = .seconds(30)
    package var logLevel = Logger.Level.info
    package var server = ServerConfiguration()
    package var fanOut = FanOut.Settings()
    /// The most the cluster view holds.
    package var view = ClusterView.Limits()
    /// Most blocking queries and event streams at once (`MAX_WATCHERS`).
    package var maxWatchers = 1024
    /// TLS on the cluster listener (nil: plain HTTP).
    package var clusterTLS: ClusterTLS?
    /// Outbound TLS for libcurl's calls (mIT, tokens, announcements, `https://` nodes).
    package var outboundTLS = OutboundTLS()

    package init() {}
}

/// TLS on the cluster listener: its files and policy, and the context they made when checked.
package struct ClusterTLS: Sendable {
    package var certificateFile: String
    package var keyFile: String
    package var clientCAFile: String?
    package var allowedSANs: [String]
    package var minimum: TLSVersion
    /// Made (and so checked) when the settings were read; a refresh makes a new one.
    package var context: TLSContext

    /// A context from the files as they are now (a settings refresh, a file that changed).
    package func reloaded() throws(TLSFailure) -> TLSContext {
        try TLSContext.server(
            certificate: certificateFile, key: keyFile, clientCA: clientCAFile, allowedSANs: allowedSANs, minimum: minimum)
    }
}

/// What every outbound `https://` call trusts and presents.
package struct OutboundTLS: Sendable {
    /// PEM CAs (nil: the system's bundle).
    package var caFile: String?
    /// The sidecar's client certificate and key (the cluster listener's), when it has them.
    package var certificateFile: String?
    package var keyFile: String?
    package var minimum = TLSVersion.v1_2

    package init() {}

    /// The clients' settings with these applied: libcurl's options, and our own client's context
    /// (checked when the settings were read; made when the first `https://` node needs it).
    package func applied(to configuration: ClientConfiguration) -> ClientConfiguration {
        var c = configuration
        c.caBundle = caFile
        c.clientCertificate = certificateFile
        c.clientKey = keyFile
        c.tlsMinimum = minimum.rawValue
        let files = self
        c.tls = TLSClientContext(makingOnFirstUse: { () throws(TLSFailure) in try files.context() })
        return c
    }

    /// Our own client's context from the files as they are now.
    package func context() throws(TLSFailure) -> TLSContext {
        try TLSContext.client(trustedCA: caFile, certificate: certificateFile, key: keyFile, minimum: minimum)
    }
}
