import ArgumentParser
import SidecarCore

/// Every setting as a flag; each flag wins over its environment variable.
struct SettingOptions: ParsableArguments {
    @Option(name: .customLong("mit-url"), help: ArgumentHelp(ConfigKey.mitURL.help))
    var mitURL: String?

    @Option(name: .customLong("server-type"), help: ArgumentHelp(ConfigKey.serverType.help))
    var serverType: String?

    @Option(name: .customLong("server-id"), help: ArgumentHelp(ConfigKey.serverID.help))
    var serverID: String?

    @Option(name: .customLong("server-url"), help: ArgumentHelp(ConfigKey.serverURL.help))
    var serverURL: String?

    @Option(name: .customLong("cluster-url"), help: ArgumentHelp(ConfigKey.clusterURL.help))
    var clusterURL: String?

    @Option(name: .customLong("cluster-management"), help: ArgumentHelp(ConfigKey.clusterManagement.help))
    var clusterManagement: String?

    @Option(name: .customLong("local-address"), help: ArgumentHelp(ConfigKey.localAddress.help))
    var localAddress: String?

    @Option(name: .customLong("local-port"), help: ArgumentHelp(ConfigKey.localPort.help))
    var localPort: String?

    @Option(name: .customLong("cluster-address"), help: ArgumentHelp(ConfigKey.clusterAddress.help))
    var clusterAddress: String?

    @Option(name: .customLong("cluster-port"), help: ArgumentHelp(ConfigKey.clusterPort.help))
    var clusterPort: String?

    @Option(name: .customLong("registration-retry"), help: ArgumentHelp(ConfigKey.registrationRetry.help))
    var registrationRetry: String?

    @Option(name: .customLong("registration-concurrent-delay"), help: ArgumentHelp(ConfigKey.registrationConcurrentDelay.help))
    var registrationConcurrentDelay: String?

    @Option(name: .customLong("lease-time-default"), help: ArgumentHelp(ConfigKey.leaseTimeDefault.help))
    var leaseTimeDefault: String?

    @Option(name: .customLong("oauth-token-url"), help: ArgumentHelp(ConfigKey.oauthTokenURL.help))
    var oauthTokenURL: String?

    @Option(name: .customLong("oauth-client-id"), help: ArgumentHelp(ConfigKey.oauthClientID.help))
    var oauthClientID: String?

    @Option(name: .customLong("oauth-client-secret"), help: ArgumentHelp(ConfigKey.oauthClientSecret.help))
    var oauthClientSecret: String?

    @Option(name: .customLong("mit-token"), help: ArgumentHelp(ConfigKey.mitToken.help))
    var mitToken: String?

    @Option(name: .customLong("jwt-secret"), help: ArgumentHelp(ConfigKey.jwtSecret.help))
    var jwtSecret: String?

    @Option(name: .customLong("jwt-public-key-file"), help: ArgumentHelp(ConfigKey.jwtPublicKeyFile.help))
    var jwtPublicKeyFile: String?

    @Option(name: .customLong("jwt-issuer"), help: ArgumentHelp(ConfigKey.jwtIssuer.help))
    var jwtIssuer: String?

    @Option(name: .customLong("jwt-audience"), help: ArgumentHelp(ConfigKey.jwtAudience.help))
    var jwtAudience: String?

    @Option(name: .customLong("local-api-token"), help: ArgumentHelp(ConfigKey.localAPIToken.help))
    var localAPIToken: String?

    @Option(name: .customLong("app-health-url"), help: ArgumentHelp(ConfigKey.appHealthURL.help))
    var appHealthURL: String?

    @Option(name: .customLong("drain-timeout"), help: ArgumentHelp(ConfigKey.drainTimeout.help))
    var drainTimeout: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp(ConfigKey.logLevel.help))
    var logLevel: String?

    @Option(name: .customLong("header-timeout"), help: ArgumentHelp(ConfigKey.headerTimeout.help))
    var headerTimeout: String?

    @Option(name: .customLong("keepalive-timeout"), help: ArgumentHelp(ConfigKey.keepAliveTimeout.help))
    var keepAliveTimeout: String?

    @Option(name: .customLong("body-timeout"), help: ArgumentHelp(ConfigKey.bodyTimeout.help))
    var bodyTimeout: String?

    @Option(name: .customLong("max-target-bytes"), help: ArgumentHelp(ConfigKey.maxTargetBytes.help))
    var maxTargetBytes: String?

    @Option(name: .customLong("max-header-bytes"), help: ArgumentHelp(ConfigKey.maxHeaderBytes.help))
    var maxHeaderBytes: String?

    @Option(name: .customLong("max-header-fields"), help: ArgumentHelp(ConfigKey.maxHeaderFields.help))
    var maxHeaderFields: String?

    @Option(name: .customLong("max-body-bytes"), help: ArgumentHelp(ConfigKey.maxBodyBytes.help))
    var maxBodyBytes: String?

    @Option(name: .customLong("max-connections"), help: ArgumentHelp(ConfigKey.maxConnections.help))
    var maxConnections: String?

    @Option(name: .customLong("workers"), help: ArgumentHelp(ConfigKey.workers.help))
    var workers: String?

    @Option(name: .customLong("oauth-client-secret-file"), help: "File holding the secret (env OAUTH_CLIENT_SECRET_FILE; default: none).")
    var oauthClientSecretFile: String?

    @Option(name: .customLong("mit-token-file"), help: "File holding the secret (env MIT_TOKEN_FILE; default: none).")
    var mitTokenFile: String?

    @Option(name: .customLong("jwt-secret-file"), help: "File holding the secret (env JWT_SECRET_FILE; default: none).")
    var jwtSecretFile: String?

    @Option(name: .customLong("local-api-token-file"), help: "File holding the secret (env LOCAL_API_TOKEN_FILE; default: none).")
    var localAPITokenFile: String?

    /// The values given on the command line, keyed by variable name.
    var flagValues: [String: String] {
        let all: [(String, String?)] = [
            (ConfigKey.mitURL.rawValue, mitURL),
            (ConfigKey.serverType.rawValue, serverType),
            (ConfigKey.serverID.rawValue, serverID),
            (ConfigKey.serverURL.rawValue, serverURL),
            (ConfigKey.clusterURL.rawValue, clusterURL),
            (ConfigKey.clusterManagement.rawValue, clusterManagement),
            (ConfigKey.localAddress.rawValue, localAddress),
            (ConfigKey.localPort.rawValue, localPort),
            (ConfigKey.clusterAddress.rawValue, clusterAddress),
            (ConfigKey.clusterPort.rawValue, clusterPort),
            (ConfigKey.registrationRetry.rawValue, registrationRetry),
            (ConfigKey.registrationConcurrentDelay.rawValue, registrationConcurrentDelay),
            (ConfigKey.leaseTimeDefault.rawValue, leaseTimeDefault),
            (ConfigKey.oauthTokenURL.rawValue, oauthTokenURL),
            (ConfigKey.oauthClientID.rawValue, oauthClientID),
            (ConfigKey.oauthClientSecret.rawValue, oauthClientSecret),
            (ConfigKey.mitToken.rawValue, mitToken),
            (ConfigKey.jwtSecret.rawValue, jwtSecret),
            (ConfigKey.jwtPublicKeyFile.rawValue, jwtPublicKeyFile),
            (ConfigKey.jwtIssuer.rawValue, jwtIssuer),
            (ConfigKey.jwtAudience.rawValue, jwtAudience),
            (ConfigKey.localAPIToken.rawValue, localAPIToken),
            (ConfigKey.appHealthURL.rawValue, appHealthURL),
            (ConfigKey.drainTimeout.rawValue, drainTimeout),
            (ConfigKey.logLevel.rawValue, logLevel),
            (ConfigKey.headerTimeout.rawValue, headerTimeout),
            (ConfigKey.keepAliveTimeout.rawValue, keepAliveTimeout),
            (ConfigKey.bodyTimeout.rawValue, bodyTimeout),
            (ConfigKey.maxTargetBytes.rawValue, maxTargetBytes),
            (ConfigKey.maxHeaderBytes.rawValue, maxHeaderBytes),
            (ConfigKey.maxHeaderFields.rawValue, maxHeaderFields),
            (ConfigKey.maxBodyBytes.rawValue, maxBodyBytes),
            (ConfigKey.maxConnections.rawValue, maxConnections),
            (ConfigKey.workers.rawValue, workers),
            ("OAUTH_CLIENT_SECRET_FILE", oauthClientSecretFile),
            ("MIT_TOKEN_FILE", mitTokenFile),
            ("JWT_SECRET_FILE", jwtSecretFile),
            ("LOCAL_API_TOKEN_FILE", localAPITokenFile),
        ]
        var values: [String: String] = [:]
        for (key, value) in all { if let value { values[key] = value } }
        return values
    }
}
