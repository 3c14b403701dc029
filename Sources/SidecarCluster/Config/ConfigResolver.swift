import SidecarPosix
import SidecarHTTP
import SidecarClient
import Logging

/// Turns raw settings (flags over environment) into a checked `SidecarConfiguration`.
///
/// Pure but for `readFile`, which reads `*_FILE` secrets and is injected for tests.
public struct ConfigResolver {
    private let values: [String: String]
    private let readFile: (String) -> String?

    /// - Parameters:
    ///   - environment: the process environment.
    ///   - flags: values given on the command line, keyed by variable name; they win.
    ///   - readFile: returns a file's text, or nil when it cannot be read.
    public init(environment: [String: String], flags: [String: String] = [:], readFile: @escaping (String) -> String?) {
        var merged = environment
        for (k, v) in flags { merged[k] = v }
        values = merged
        self.readFile = readFile
    }

    /// The checked configuration, or the first setting at fault.
    public func resolve() throws(ConfigError) -> SidecarConfiguration {
        var c = SidecarConfiguration()
        c.mitURL = try url(.mitURL)
        c.serverType = try text(.serverType)
        c.serverID = try text(.serverID)
        c.serverURL = try url(.serverURL)
        c.clusterURL = try url(.clusterURL)
        c.clusterManagement = try bool(.clusterManagement) ?? true
        c.localAddress = try address(.localAddress, .localPort, default: c.localAddress)
        c.clusterAddress = try address(.clusterAddress, .clusterPort, default: c.clusterAddress)
        c.registrationRetry = try duration(.registrationRetry, positive: true) ?? c.registrationRetry
        c.registrationConcurrentDelay = try duration(.registrationConcurrentDelay) ?? c.registrationConcurrentDelay
        c.leaseTimeDefault = try duration(.leaseTimeDefault, positive: true) ?? c.leaseTimeDefault
        c.oauthTokenURL = try url(.oauthTokenURL)
        c.oauthClientID = try text(.oauthClientID)
        c.oauthClientSecret = try secret(.oauthClientSecret)
        c.mitToken = try secret(.mitToken)
        c.jwtSecret = try secret(.jwtSecret)
        if let s = c.jwtSecret, s.value.utf8.count < 32 {
            throw ConfigError(ConfigKey.jwtSecret.rawValue, "must be at least 32 bytes (HS256, RFC 7518 §3.2)")
        }
        c.jwtPublicKeyFile = try text(.jwtPublicKeyFile)
        c.jwtIssuer = try text(.jwtIssuer)
        c.jwtAudience = try text(.jwtAudience)
        c.localAPIToken = try secret(.localAPIToken)
        c.appHealthURL = try url(.appHealthURL)
        c.drainTimeout = try duration(.drainTimeout) ?? c.drainTimeout
        c.logLevel = try logLevel() ?? c.logLevel
        c.server.headerTimeout = try duration(.headerTimeout, positive: true).map(Duration.seconds(exactly:)) ?? c.server.headerTimeout
        c.server.keepAliveTimeout = try duration(.keepAliveTimeout, positive: true).map(Duration.seconds(exactly:)) ?? c.server.keepAliveTimeout
        c.server.bodyTimeout = try duration(.bodyTimeout, positive: true).map(Duration.seconds(exactly:)) ?? c.server.bodyTimeout
        c.server.limits.maxTargetBytes = try integer(.maxTargetBytes, 64...1 << 20) ?? c.server.limits.maxTargetBytes
        c.server.limits.maxHeaderBytes = try integer(.maxHeaderBytes, 256...1 << 24) ?? c.server.limits.maxHeaderBytes
        c.server.limits.maxHeaderFields = try integer(.maxHeaderFields, 1...10_000) ?? c.server.limits.maxHeaderFields
        c.server.limits.maxBodyBytes = try integer(.maxBodyBytes, 0...1 << 30) ?? c.server.limits.maxBodyBytes
        c.server.maxConnections = try integer(.maxConnections, 1...1_000_000) ?? c.server.maxConnections
        c.server.loops = try integer(.workers, 1...256) ?? 0
        c.fanOut.concurrency = try integer(.fanoutConcurrency, 1...4096) ?? c.fanOut.concurrency
        c.fanOut.timeout = try duration(.fanoutTimeout, positive: true) ?? c.fanOut.timeout
        c.fanOut.maxResponseBytes = try integer(.fanoutMaxResponseBytes, 1...1 << 30) ?? c.fanOut.maxResponseBytes

        if c.mitURL != nil {
            if c.serverType == nil { throw ConfigError(ConfigKey.serverType.rawValue, "is required when MIT_URL is set") }
            if c.serverURL == nil { throw ConfigError(ConfigKey.serverURL.rawValue, "is required when MIT_URL is set") }
        }
        return c
    }

    /// The raw value of `key`; an empty value counts as unset.
    private func raw(_ key: ConfigKey) -> String? {
        guard let v = values[key.rawValue], !v.isEmpty else { return nil }
        return v
    }

    private func text(_ key: ConfigKey) throws(ConfigError) -> String? {
        guard let v = raw(key) else { return nil }
        guard v.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw ConfigError(key.rawValue, "contains control characters")
        }
        return v
    }

    private func url(_ key: ConfigKey) throws(ConfigError) -> String? {
        guard let v = try text(key) else { return nil }
        let lower = v.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw ConfigError(key.rawValue, "'\(v)' is not an http(s) URL")
        }
        let rest = v.drop(while: { $0 != "/" }).dropFirst(2)
        guard let first = rest.first, first != "/", first != "?", !v.contains(" ") else {
            throw ConfigError(key.rawValue, "'\(v)' has no host")
        }
        return v.hasSuffix("/") ? String(v.dropLast()) : v
    }

    private func bool(_ key: ConfigKey) throws(ConfigError) -> Bool? {
        guard let v = raw(key) else { return nil }
        switch v.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigError(key.rawValue, "'\(v)' is not true or false")
        }
    }

    private func duration(_ key: ConfigKey, positive: Bool = false) throws(ConfigError) -> Double? {
        guard let v = raw(key) else { return nil }
        guard let d = Double(v), d.isFinite, d >= 0, !(positive && d == 0), v.first != "+" else {
            throw ConfigError(key.rawValue, "'\(v)' is not a duration in seconds\(positive ? " above 0" : "") (e.g. 10 or 0.2)")
        }
        return d
    }

    private func integer(_ key: ConfigKey, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = raw(key) else { return nil }
        guard let n = Int(v), range.contains(n), v.first != "+" else {
            throw ConfigError(key.rawValue, "'\(v)' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    private func address(_ hostKey: ConfigKey, _ portKey: ConfigKey, default d: SocketAddress) throws(ConfigError) -> SocketAddress {
        var port = d.port
        if let p = raw(portKey) {
            guard let n = UInt16(p) else { throw ConfigError(portKey.rawValue, "'\(p)' is not a port (0-65535)") }
            port = n
        }
        let host = raw(hostKey) ?? d.host
        guard let a = SocketAddress(host: host, port: port) else {
            throw ConfigError(hostKey.rawValue, "'\(host)' is not a numeric IPv4 or IPv6 address")
        }
        return a
    }

    private func secret(_ key: ConfigKey) throws(ConfigError) -> Secret? {
        let fileVariable = key.rawValue + "_FILE"
        let direct = raw(key)
        let file = values[fileVariable].flatMap { $0.isEmpty ? nil : $0 }
        if direct != nil && file != nil { throw ConfigError(key.rawValue, "set \(key.rawValue) or \(fileVariable), not both") }
        if let direct { return Secret(direct) }
        guard let file else { return nil }
        guard let text = readFile(file) else { throw ConfigError(fileVariable, "cannot read '\(file)'") }
        var s = Substring(text)
        while let last = s.last, last.isNewline { s = s.dropLast() }
        guard !s.isEmpty else { throw ConfigError(fileVariable, "'\(file)' is empty") }
        return Secret(String(s))
    }

    private func logLevel() throws(ConfigError) -> Logger.Level? {
        guard let v = raw(.logLevel) else { return nil }
        guard let level = Logger.Level(rawValue: v.lowercased()) else {
            throw ConfigError(ConfigKey.logLevel.rawValue, "'\(v)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}
