import ArgumentParser
import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix
import SidecarRegistry

/// Every setting as a flag; each flag wins over its environment variable.
struct SettingOptions: ParsableArguments {
    @Option(name: .customLong("mit-url"), help: ArgumentHelp(ConfigKey.mitURL.help, valueName: ConfigKey.mitURL.rawValue))
    var mitURL: String?

    @Option(name: .customLong("server-type"), help: ArgumentHelp(ConfigKey.serverType.help, valueName: ConfigKey.serverType.rawValue))
    var serverType: String?

    @Option(name: .customLong("server-id"), help: ArgumentHelp(ConfigKey.serverID.help, valueName: ConfigKey.serverID.rawValue))
    var serverID: String?

    @Option(name: .customLong("server-url"), help: ArgumentHelp(ConfigKey.serverURL.help, valueName: ConfigKey.serverURL.rawValue))
    var serverURL: String?

    @Option(name: .customLong("cluster-url"), help: ArgumentHelp(ConfigKey.clusterURL.help, valueName: ConfigKey.clusterURL.rawValue))
    var clusterURL: String?

    @Option(
        name: .customLong("cluster-management"),
        help: ArgumentHelp(ConfigKey.clusterManagement.help, valueName: ConfigKey.clusterManagement.rawValue))
    var clusterManagement: String?

    @Option(name: .customLong("local-address"), help: ArgumentHelp(ConfigKey.localAddress.help, valueName: ConfigKey.localAddress.rawValue))
    var localAddress: String?

    @Option(name: .customLong("local-port"), help: ArgumentHelp(ConfigKey.localPort.help, valueName: ConfigKey.localPort.rawValue))
    var localPort: String?

    @Option(
        name: .customLong("cluster-address"),
        help: ArgumentHelp(ConfigKey.clusterAddress.help, valueName: ConfigKey.clusterAddress.rawValue))
    var clusterAddress: String?

    @Option(name: .customLong("cluster-port"), help: ArgumentHelp(ConfigKey.clusterPort.help, valueName: ConfigKey.clusterPort.rawValue))
    var clusterPort: String?

    @Option(
        name: .customLong("registration-retry"),
        help: ArgumentHelp(ConfigKey.registrationRetry.help, valueName: ConfigKey.registrationRetry.rawValue))
    var registrationRetry: String?

    @Option(
        name: .customLong("registration-concurrent-delay"),
        help: ArgumentHelp(ConfigKey.registrationConcurrentDelay.help, valueName: ConfigKey.registrationConcurrentDelay.rawValue))
    var registrationConcurrentDelay: String?

    @Option(
        name: .customLong("lease-time-default"),
        help: ArgumentHelp(ConfigKey.leaseTimeDefault.help, valueName: ConfigKey.leaseTimeDefault.rawValue))
    var leaseTimeDefault: String?

    @Option(
        name: .customLong("oauth-token-url"), help: ArgumentHelp(ConfigKey.oauthTokenURL.help, valueName: ConfigKey.oauthTokenURL.rawValue))
    var oauthTokenURL: String?

    @Option(
        name: .customLong("oauth-client-id"), help: ArgumentHelp(ConfigKey.oauthClientID.help, valueName: ConfigKey.oauthClientID.rawValue))
    var oauthClientID: String?

    @Option(
        name: .customLong("oauth-client-secret"),
        help: ArgumentHelp(ConfigKey.oauthClientSecret.help, valueName: ConfigKey.oauthClientSecret.rawValue))
    var oauthClientSecret: String?

    @Option(name: .customLong("mit-token"), help: ArgumentHelp(ConfigKey.mitToken.help, valueName: ConfigKey.mitToken.rawValue))
    var mitToken: String?

    @Option(name: .customLong("jwt-secret"), help: ArgumentHelp(ConfigKey.jwtSecret.help, valueName: ConfigKey.jwtSecret.rawValue))
    var jwtSecret: String?

    @Option(
        name: .customLong("jwt-public-key-file"),
        help: ArgumentHelp(ConfigKey.jwtPublicKeyFile.help, valueName: ConfigKey.jwtPublicKeyFile.rawValue))
    var jwtPublicKeyFile: String?

    @Option(name: .customLong("jwt-issuer"), help: ArgumentHelp(ConfigKey.jwtIssuer.help, valueName: ConfigKey.jwtIssuer.rawValue))
    var jwtIssuer: String?

    @Option(name: .customLong("jwt-audience"), help: ArgumentHelp(ConfigKey.jwtAudience.help, valueName: ConfigKey.jwtAudience.rawValue))
    var jwtAudience: String?

    @Option(
        name: .customLong("local-api-token"), help: ArgumentHelp(ConfigKey.localAPIToken.help, valueName: ConfigKey.localAPIToken.rawValue))
    var localAPIToken: String?

    @Option(
        name: .customLong("app-health-url"),
        help: ArgumentHelp(ConfigKey.applicationHealthURL.help, valueName: ConfigKey.applicationHealthURL.rawValue))
    var applicationHealthURL: String?

    @Option(name: .customLong("pid-file"), help: ArgumentHelp(ConfigKey.pidFile.help, valueName: ConfigKey.pidFile.rawValue))
    var pidFile: String?

    @Option(name: .customLong("drain-timeout"), help: ArgumentHelp(ConfigKey.drainTimeout.help, valueName: ConfigKey.drainTimeout.rawValue))
    var drainTimeout: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp(ConfigKey.logLevel.help, valueName: ConfigKey.logLevel.rawValue))
    var logLevel: String?

    @Option(
        name: .customLong("header-timeout"), help: ArgumentHelp(ConfigKey.headerTimeout.help, valueName: ConfigKey.headerTimeout.rawValue))
    var headerTimeout: String?

    @Option(
        name: .customLong("keepalive-timeout"),
        help: ArgumentHelp(ConfigKey.keepAliveTimeout.help, valueName: ConfigKey.keepAliveTimeout.rawValue))
    var keepAliveTimeout: String?

    @Option(name: .customLong("body-timeout"), help: ArgumentHelp(ConfigKey.bodyTimeout.help, valueName: ConfigKey.bodyTimeout.rawValue))
    var bodyTimeout: String?

    @Option(
        name: .customLong("max-target-bytes"),
        help: ArgumentHelp(ConfigKey.maxTargetBytes.help, valueName: ConfigKey.maxTargetBytes.rawValue))
    var maxTargetBytes: String?

    @Option(
        name: .customLong("max-header-bytes"),
        help: ArgumentHelp(ConfigKey.maxHeaderBytes.help, valueName: ConfigKey.maxHeaderBytes.rawValue))
    var maxHeaderBytes: String?

    @Option(
        name: .customLong("max-header-fields"),
        help: ArgumentHelp(ConfigKey.maxHeaderFields.help, valueName: ConfigKey.maxHeaderFields.rawValue))
    var maxHeaderFields: String?

    @Option(
        name: .customLong("max-body-bytes"), help: ArgumentHelp(ConfigKey.maxBodyBytes.help, valueName: ConfigKey.maxBodyBytes.rawValue))
    var maxBodyBytes: String?

    @Option(
        name: .customLong("max-connections"),
        help: ArgumentHelp(ConfigKey.maxConnections.help, valueName: ConfigKey.maxConnections.rawValue))
    var maxConnections: String?

    @Option(name: .customLong("workers"), help: ArgumentHelp(ConfigKey.workers.help, valueName: ConfigKey.workers.rawValue))
    var workers: String?

    @Option(
        name: .customLong("fanout-concurrency"),
        help: ArgumentHelp(ConfigKey.fanoutConcurrency.help, valueName: ConfigKey.fanoutConcurrency.rawValue))
    var fanoutConcurrency: String?

    @Option(
        name: .customLong("fanout-timeout"), help: ArgumentHelp(ConfigKey.fanoutTimeout.help, valueName: ConfigKey.fanoutTimeout.rawValue))
    var fanoutTimeout: String?

    @Option(
        name: .customLong("fanout-max-response-bytes"),
        help: ArgumentHelp(ConfigKey.fanoutMaxResponseBytes.help, valueName: ConfigKey.fanoutMaxResponseBytes.rawValue))
    var fanoutMaxResponseBytes: String?

    @Option(
        name: .customLong("fanout-max-pending"),
        help: ArgumentHelp(ConfigKey.fanoutMaxPending.help, valueName: ConfigKey.fanoutMaxPending.rawValue))
    var fanoutMaxPending: String?
    @Option(
        name: .customLong("fanout-max-buffered-bytes"),
        help: ArgumentHelp(ConfigKey.fanoutMaxBufferedBytes.help, valueName: ConfigKey.fanoutMaxBufferedBytes.rawValue))
    var fanoutMaxBufferedBytes: String?
    @Option(
        name: .customLong("fanout-eject-after"),
        help: ArgumentHelp(ConfigKey.fanoutEjectAfter.help, valueName: ConfigKey.fanoutEjectAfter.rawValue))
    var fanoutEjectAfter: String?
    @Option(
        name: .customLong("fanout-eject-time"),
        help: ArgumentHelp(ConfigKey.fanoutEjectTime.help, valueName: ConfigKey.fanoutEjectTime.rawValue))
    var fanoutEjectTime: String?
    @Option(
        name: .customLong("fanout-max-ejected-percent"),
        help: ArgumentHelp(ConfigKey.fanoutMaxEjectedPercent.help, valueName: ConfigKey.fanoutMaxEjectedPercent.rawValue))
    var fanoutMaxEjectedPercent: String?
    @Option(
        name: .customLong("fanout-probe-interval"),
        help: ArgumentHelp(ConfigKey.fanoutProbeInterval.help, valueName: ConfigKey.fanoutProbeInterval.rawValue))
    var fanoutProbeInterval: String?
    @Option(
        name: .customLong("fanout-dns-ttl"),
        help: ArgumentHelp(ConfigKey.fanoutDNSTTL.help, valueName: ConfigKey.fanoutDNSTTL.rawValue))
    var fanoutDNSTTL: String?
    @Option(
        name: .customLong("cluster-max-servers"),
        help: ArgumentHelp(ConfigKey.clusterMaxServers.help, valueName: ConfigKey.clusterMaxServers.rawValue))
    var clusterMaxServers: String?
    @Option(
        name: .customLong("cluster-max-metadata-bytes"),
        help: ArgumentHelp(ConfigKey.clusterMaxMetadataBytes.help, valueName: ConfigKey.clusterMaxMetadataBytes.rawValue))
    var clusterMaxMetadataBytes: String?

    @Option(name: .customLong("oauth-client-secret-file"), help: "File holding the secret (env OAUTH_CLIENT_SECRET_FILE; default: none).")
    var oauthClientSecretFile: String?

    @Option(name: .customLong("mit-token-file"), help: "File holding the secret (env MIT_TOKEN_FILE; default: none).")
    var mitTokenFile: String?

    @Option(name: .customLong("jwt-secret-file"), help: "File holding the secret (env JWT_SECRET_FILE; default: none).")
    var jwtSecretFile: String?

    @Option(name: .customLong("local-api-token-file"), help: "File holding the secret (env LOCAL_API_TOKEN_FILE; default: none).")
    var localAPITokenFile: String?

    @Option(name: .customLong("log-level-file"), help: "File holding the log level, re-read on SIGHUP (env LOG_LEVEL_FILE; default: none).")
    var logLevelFile: String?

    /// The values given on the command line, keyed by variable name.
    var flagValues: [String: String] { FlagValues.of(self, keys: ConfigKey.self) }
}
