import Logging
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarSettings

/// The sidecar's settings, resolved and checked.
public struct SidecarConfiguration: Sendable {
    public var mitURL: String?
    public var serverType: String?
    public var serverID: String?
    public var serverURL: String?
    /// nil: derived at start-up from the host address and the bound cluster port.
    public var clusterURL: String?
    public var clusterManagement = true
    public var localAddress = SocketAddress(host: "127.0.0.1", port: 8461)!
    public var clusterAddress = SocketAddress(host: "0.0.0.0", port: 8460)!
    public var registrationRetry: Duration = .seconds(10)
    public var registrationConcurrentDelay: Duration = .seconds(60)
    public var leaseTimeDefault: Duration = .seconds(7200)
    public var oauthTokenURL: String?
    public var oauthClientID: String?
    public var oauthClientSecret: Secret?
    public var mitToken: Secret?
    public var jwtSecret: Secret?
    public var jwtPublicKeyFile: String?
    public var jwtIssuer: String?
    public var jwtAudience: String?
    public var localAPIToken: Secret?
    public var applicationHealthURL: String?
    /// `PID_FILE`: written once listening, removed on exit.
    public var pidFile: String?
    public var drainTimeout: Duration = .seconds(30)
    public var logLevel = Logger.Level.info
    public var server = ServerConfiguration()
    public var fanOut = FanOut.Settings()
    /// The most the cluster view holds.
    public var view = ClusterView.Limits()

    public init() {}
}
