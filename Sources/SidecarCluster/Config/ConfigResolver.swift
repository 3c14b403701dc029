import Logging
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarSettings

/// Turns raw settings (flags over environment) into a checked `SidecarConfiguration`.
///
/// Pure but for `readFile`, which reads `*_FILE` secrets and is injected for tests.
package struct ConfigResolver {
    let reader: SettingsReader

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

    /// The checked configuration, or every setting at fault (the first, with the others in
    /// its `others`): a user fixes them all in one go.
    package func resolve() throws(ConfigError) -> SidecarConfiguration {
        var c = SidecarConfiguration()
        var errors: [ConfigError] = []
        /// The value `read` gives, or nil with its error kept.
        func check<T>(_ read: @autoclosure () throws(ConfigError) -> T?) -> T? {
            do {
                return try read()
            } catch {
                errors.append(error)
                return nil
            }
        }
        c.mitURLs = check(try reader.urls(ConfigKey.mitURL)) ?? []
        c.serverType = check(try reader.text(ConfigKey.serverType))
        c.serverID = check(try reader.text(ConfigKey.serverID))
        c.serverURL = check(try reader.url(ConfigKey.serverURL))
        c.clusterURL = check(try reader.url(ConfigKey.clusterURL))
        c.clusterManagement = check(try reader.bool(ConfigKey.clusterManagement)) ?? true
        c.localAddress = check(try reader.address(ConfigKey.localAddress, ConfigKey.localPort, default: c.localAddress)) ?? c.localAddress
        c.clusterAddress =
            check(try reader.address(ConfigKey.clusterAddress, ConfigKey.clusterPort, default: c.clusterAddress)) ?? c.clusterAddress
        c.registrationRetry = check(try reader.duration(ConfigKey.registrationRetry, positive: true)) ?? c.registrationRetry
        c.registrationConcurrentDelay = check(try reader.duration(ConfigKey.registrationConcurrentDelay)) ?? c.registrationConcurrentDelay
        c.leaseTimeDefault = check(try reader.duration(ConfigKey.leaseTimeDefault, positive: true)) ?? c.leaseTimeDefault
        c.oauthTokenURLs = check(try reader.urls(ConfigKey.oauthTokenURL)) ?? []
        c.oauthClientID = check(try reader.text(ConfigKey.oauthClientID))
        c.oauthClientSecret = check(try reader.secret(ConfigKey.oauthClientSecret))
        c.mitToken = check(try reader.bearerToken(ConfigKey.mitToken))
        c.jwtSecret = check(try reader.secret(ConfigKey.jwtSecret))
        if let s = c.jwtSecret, s.value.utf8.count < 32 {
            errors.append(ConfigError(reader.name(ConfigKey.jwtSecret), "must be at least 32 bytes (HS256, RFC 7518 §3.2)"))
        }
        c.jwtPublicKeyFile = check(try reader.text(ConfigKey.jwtPublicKeyFile))
        c.jwtIssuer = check(try reader.text(ConfigKey.jwtIssuer))
        c.jwtAudience = check(try reader.text(ConfigKey.jwtAudience))
        c.localAPIToken = check(try reader.bearerToken(ConfigKey.localAPIToken))
        c.applicationHealthURL = check(try reader.url(ConfigKey.applicationHealthURL))
        c.drainTimeout = check(try reader.duration(ConfigKey.drainTimeout)) ?? c.drainTimeout
        c.pidFile = check(try reader.text(ConfigKey.pidFile))
        c.logLevel = check(try reader.logLevel(ConfigKey.logLevel)) ?? c.logLevel
        c.server.headerTimeout = check(try reader.duration(ConfigKey.headerTimeout, positive: true)) ?? c.server.headerTimeout
        c.server.keepAliveTimeout = check(try reader.duration(ConfigKey.keepAliveTimeout, positive: true)) ?? c.server.keepAliveTimeout
        c.server.bodyTimeout = check(try reader.duration(ConfigKey.bodyTimeout, positive: true)) ?? c.server.bodyTimeout
        c.server.limits.maxTargetBytes = check(try reader.integer(ConfigKey.maxTargetBytes, 64...1 << 20)) ?? c.server.limits.maxTargetBytes
        c.server.limits.maxHeaderBytes =
            check(try reader.integer(ConfigKey.maxHeaderBytes, 256...1 << 24)) ?? c.server.limits.maxHeaderBytes
        c.server.limits.maxHeaderFields =
            check(try reader.integer(ConfigKey.maxHeaderFields, 1...10_000)) ?? c.server.limits.maxHeaderFields
        c.server.limits.maxBodyBytes = check(try reader.integer(ConfigKey.maxBodyBytes, 0...1 << 30)) ?? c.server.limits.maxBodyBytes
        c.server.maxConnections = check(try reader.integer(ConfigKey.maxConnections, 1...1_000_000)) ?? c.server.maxConnections
        c.server.loops = check(try reader.integer(ConfigKey.workers, 1...256)) ?? 0
        c.fanOut.concurrency = check(try reader.integer(ConfigKey.fanoutConcurrency, 1...4096)) ?? c.fanOut.concurrency
        c.fanOut.timeout = check(try reader.duration(ConfigKey.fanoutTimeout, positive: true)) ?? c.fanOut.timeout
        c.fanOut.maxResponseBytes = check(try reader.integer(ConfigKey.fanoutMaxResponseBytes, 1...1 << 30)) ?? c.fanOut.maxResponseBytes
        c.fanOut.maxPending = check(try reader.integer(ConfigKey.fanoutMaxPending, 1...1_000_000)) ?? c.fanOut.maxPending
        c.fanOut.maxBufferedBytes =
            check(try reader.integer(ConfigKey.fanoutMaxBufferedBytes, 1 << 16...1 << 40)) ?? c.fanOut.maxBufferedBytes
        c.fanOut.outliers = OutlierMachine.Policy(
            ejectAfter: check(try reader.integer(ConfigKey.fanoutEjectAfter, 1...1000)) ?? c.fanOut.outliers.ejectAfter,
            ejectTime: check(try reader.duration(ConfigKey.fanoutEjectTime, positive: true)) ?? c.fanOut.outliers.ejectTime,
            maxEjectedPercent: check(try reader.integer(ConfigKey.fanoutMaxEjectedPercent, 0...100)) ?? c.fanOut.outliers.maxEjectedPercent)
        c.fanOut.probeInterval = check(try reader.duration(ConfigKey.fanoutProbeInterval, positive: true)) ?? c.fanOut.probeInterval
        c.fanOut.dnsTTL = check(try reader.duration(ConfigKey.fanoutDNSTTL, positive: true)) ?? c.fanOut.dnsTTL
        c.view.maxServers = check(try reader.integer(ConfigKey.clusterMaxServers, 1...10_000_000)) ?? c.view.maxServers
        c.view.maxMetadataBytes = check(try reader.integer(ConfigKey.clusterMaxMetadataBytes, 0...1 << 24)) ?? c.view.maxMetadataBytes
        c.maxWatchers = check(try reader.integer(ConfigKey.maxWatchers, 0...1_000_000)) ?? c.maxWatchers

        resolveTLS(&c, &errors)
        c.fanOut.outboundTLS = c.outboundTLS
        if c.mitURL != nil {
            // Unless the value given was refused already.
            for (key, value) in [(ConfigKey.serverType, c.serverType), (ConfigKey.serverURL, c.serverURL)] where value == nil {
                let name = reader.name(key)
                if !errors.contains(where: { $0.variable == name }) { errors.append(ConfigError(name, "is required when MIT_URL is set")) }
            }
        }
        if var first = errors.first {
            first.others = Array(errors.dropFirst())
            throw first
        }
        return c
    }
}
