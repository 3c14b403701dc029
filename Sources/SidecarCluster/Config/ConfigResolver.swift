import Logging
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarSettings

/// Turns raw settings (flags over environment) into a checked `SidecarConfiguration`.
///
/// Pure but for `readFile`, which reads `*_FILE` secrets and is injected for tests.
package struct ConfigResolver {
    private let reader: SettingsReader

    /// - Parameters:
    ///   - environment: the process environment.
    ///   - flags: values given on the command line, keyed by variable name; they win.
    ///   - readFile: returns a file's text, or says why it cannot be read (by default `SettingFile.read`).
    package init(
        environment: [String: String], flags: [String: String] = [:],
        readFile: @escaping (String) throws(FileReadError) -> String = { path throws(FileReadError) in try SettingFile.read(path) }
    ) {
        reader = SettingsReader(environment: environment, flags: flags, readFile: readFile)
    }

    /// The checked configuration, or the first setting at fault.
    package func resolve() throws(ConfigError) -> SidecarConfiguration {
        var c = SidecarConfiguration()
        c.mitURL = try reader.url(ConfigKey.mitURL)
        c.serverType = try reader.text(ConfigKey.serverType)
        c.serverID = try reader.text(ConfigKey.serverID)
        c.serverURL = try reader.url(ConfigKey.serverURL)
        c.clusterURL = try reader.url(ConfigKey.clusterURL)
        c.clusterManagement = try reader.bool(ConfigKey.clusterManagement) ?? true
        c.localAddress = try reader.address(ConfigKey.localAddress, ConfigKey.localPort, default: c.localAddress)
        c.clusterAddress = try reader.address(ConfigKey.clusterAddress, ConfigKey.clusterPort, default: c.clusterAddress)
        c.registrationRetry = try reader.duration(ConfigKey.registrationRetry, positive: true) ?? c.registrationRetry
        c.registrationConcurrentDelay = try reader.duration(ConfigKey.registrationConcurrentDelay) ?? c.registrationConcurrentDelay
        c.leaseTimeDefault = try reader.duration(ConfigKey.leaseTimeDefault, positive: true) ?? c.leaseTimeDefault
        c.oauthTokenURL = try reader.url(ConfigKey.oauthTokenURL)
        c.oauthClientID = try reader.text(ConfigKey.oauthClientID)
        c.oauthClientSecret = try reader.secret(ConfigKey.oauthClientSecret)
        c.mitToken = try reader.bearerToken(ConfigKey.mitToken)
        c.jwtSecret = try reader.secret(ConfigKey.jwtSecret)
        if let s = c.jwtSecret, s.value.utf8.count < 32 {
            throw ConfigError(reader.name(ConfigKey.jwtSecret), "must be at least 32 bytes (HS256, RFC 7518 §3.2)")
        }
        c.jwtPublicKeyFile = try reader.text(ConfigKey.jwtPublicKeyFile)
        c.jwtIssuer = try reader.text(ConfigKey.jwtIssuer)
        c.jwtAudience = try reader.text(ConfigKey.jwtAudience)
        c.localAPIToken = try reader.bearerToken(ConfigKey.localAPIToken)
        c.applicationHealthURL = try reader.url(ConfigKey.applicationHealthURL)
        c.drainTimeout = try reader.duration(ConfigKey.drainTimeout) ?? c.drainTimeout
        c.pidFile = try reader.text(ConfigKey.pidFile)
        c.logLevel = try reader.logLevel(ConfigKey.logLevel) ?? c.logLevel
        c.server.headerTimeout = try reader.duration(ConfigKey.headerTimeout, positive: true) ?? c.server.headerTimeout
        c.server.keepAliveTimeout = try reader.duration(ConfigKey.keepAliveTimeout, positive: true) ?? c.server.keepAliveTimeout
        c.server.bodyTimeout = try reader.duration(ConfigKey.bodyTimeout, positive: true) ?? c.server.bodyTimeout
        c.server.limits.maxTargetBytes = try reader.integer(ConfigKey.maxTargetBytes, 64...1 << 20) ?? c.server.limits.maxTargetBytes
        c.server.limits.maxHeaderBytes = try reader.integer(ConfigKey.maxHeaderBytes, 256...1 << 24) ?? c.server.limits.maxHeaderBytes
        c.server.limits.maxHeaderFields = try reader.integer(ConfigKey.maxHeaderFields, 1...10_000) ?? c.server.limits.maxHeaderFields
        c.server.limits.maxBodyBytes = try reader.integer(ConfigKey.maxBodyBytes, 0...1 << 30) ?? c.server.limits.maxBodyBytes
        c.server.maxConnections = try reader.integer(ConfigKey.maxConnections, 1...1_000_000) ?? c.server.maxConnections
        c.server.loops = try reader.integer(ConfigKey.workers, 1...256) ?? 0
        c.fanOut.concurrency = try reader.integer(ConfigKey.fanoutConcurrency, 1...4096) ?? c.fanOut.concurrency
        c.fanOut.timeout = try reader.duration(ConfigKey.fanoutTimeout, positive: true) ?? c.fanOut.timeout
        c.fanOut.maxResponseBytes = try reader.integer(ConfigKey.fanoutMaxResponseBytes, 1...1 << 30) ?? c.fanOut.maxResponseBytes
        c.fanOut.maxPending = try reader.integer(ConfigKey.fanoutMaxPending, 1...1_000_000) ?? c.fanOut.maxPending
        c.fanOut.maxBufferedBytes = try reader.integer(ConfigKey.fanoutMaxBufferedBytes, 1 << 16...1 << 40) ?? c.fanOut.maxBufferedBytes
        c.fanOut.outliers = OutlierMachine.Policy(
            ejectAfter: try reader.integer(ConfigKey.fanoutEjectAfter, 1...1000) ?? c.fanOut.outliers.ejectAfter,
            ejectTime: try reader.duration(ConfigKey.fanoutEjectTime, positive: true) ?? c.fanOut.outliers.ejectTime,
            maxEjectedPercent: try reader.integer(ConfigKey.fanoutMaxEjectedPercent, 0...100) ?? c.fanOut.outliers.maxEjectedPercent)
        c.fanOut.probeInterval = try reader.duration(ConfigKey.fanoutProbeInterval, positive: true) ?? c.fanOut.probeInterval
        c.fanOut.dnsTTL = try reader.duration(ConfigKey.fanoutDNSTTL, positive: true) ?? c.fanOut.dnsTTL
        c.view.maxServers = try reader.integer(ConfigKey.clusterMaxServers, 1...10_000_000) ?? c.view.maxServers
        c.view.maxMetadataBytes = try reader.integer(ConfigKey.clusterMaxMetadataBytes, 0...1 << 24) ?? c.view.maxMetadataBytes

        if c.mitURL != nil {
            if c.serverType == nil { throw ConfigError(reader.name(ConfigKey.serverType), "is required when MIT_URL is set") }
            if c.serverURL == nil { throw ConfigError(reader.name(ConfigKey.serverURL), "is required when MIT_URL is set") }
        }
        return c
    }
}
