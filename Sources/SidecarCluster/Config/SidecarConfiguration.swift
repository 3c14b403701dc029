import Logging
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarSettings

/// The sidecar's settings, resolved and checked.
package struct SidecarConfiguration: Sendable {
    package var mitURL: String?
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
    package var oauthTokenURL: String?
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

    package init() {}
}
