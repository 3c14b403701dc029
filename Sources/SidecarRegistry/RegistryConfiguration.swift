import Logging
import SidecarCluster
import SidecarPosix
import SidecarSettings
import SidecarTLS

/// The embedded registry's settings, read like the sidecar's (`SettingsReader`): a flag wins
/// over its variable; a bad value stops start-up naming the variable.
package enum RegistryKey: String, CaseIterable, SettingKey {
    case address = "REGISTRY_ADDRESS"
    case port = "REGISTRY_PORT"
    case leaseTime = "REGISTRY_LEASE_TIME"
    case secret = "REGISTRY_SECRET"
    case clientID = "REGISTRY_CLIENT_ID"
    case clientSecret = "REGISTRY_CLIENT_SECRET"
    case logLevel = "LOG_LEVEL"
    case tlsCertFile = "REGISTRY_TLS_CERT_FILE"
    case tlsKeyFile = "REGISTRY_TLS_KEY_FILE"
    case tlsCAFile = "TLS_CA_FILE"

    package var variable: String { rawValue }

    package var flag: String {
        switch self {
        case .address: "--address"
        case .port: "--port"
        case .leaseTime: "--lease-time"
        case .secret: "--secret"
        case .clientID: "--client-id"
        case .clientSecret: "--client-secret"
        case .logLevel: "--log-level"
        case .tlsCertFile: "--tls-cert-file"
        case .tlsKeyFile: "--tls-key-file"
        case .tlsCAFile: "--tls-ca-file"
        }
    }

    package var meaning: String {
        switch self {
        case .address: "Listen address."
        case .port: "Listen port, 0 for any."
        case .leaseTime: "Lease time handed out, in seconds."
        case .secret: "HS256 secret for tokens, at least 32 bytes."
        case .clientID: "The one OAuth client id the token endpoint serves."
        case .clientSecret: "That client's secret."
        case .logLevel: "trace, debug, info, notice, warning, error or critical."
        case .tlsCertFile: "PEM certificate chain: the registry speaks TLS only, and presents it to the sidecars it calls."
        case .tlsKeyFile: "PEM private key of REGISTRY_TLS_CERT_FILE."
        case .tlsCAFile: "PEM CAs trusted when the registry calls the sidecars' https:// cluster URLs."
        }
    }

    package var defaultText: String {
        switch self {
        case .address: "127.0.0.1"
        case .port: "8400"
        case .leaseTime: "60"
        case .secret, .clientID, .clientSecret: "required"
        case .logLevel: "info"
        case .tlsCertFile: "none: plain HTTP"
        case .tlsKeyFile: "required with REGISTRY_TLS_CERT_FILE"
        case .tlsCAFile: "the system's CA bundle"
        }
    }

    package var isSecret: Bool { self == .secret || self == .clientSecret }

    package var hasFileForm: Bool { isSecret || self == .logLevel }
}

/// The registry's checked settings.
package struct RegistryConfiguration: Sendable {
    package var address = SocketAddress(host: "127.0.0.1", port: 8400)!
    package var settings: RegistryService.Settings
    package var logLevel = Logger.Level.info
    /// TLS on the registry's listener (nil: plain), checked when read.
    package var tls: TLSContext?
    /// The files behind `tls`, presented as the client certificate when the registry calls out.
    package var certificateFile: String?
    package var keyFile: String?
    /// CAs trusted for the sidecars' `https://` cluster URLs (nil: the system's).
    package var caFile: String?

    /// Resolves every `RegistryKey` from `reader`, or names the first one at fault.
    package static func resolve(_ reader: SettingsReader) throws(ConfigError) -> RegistryConfiguration {
        guard let secret = try reader.secret(RegistryKey.secret) else {
            throw ConfigError(RegistryKey.secret.variable, "is required (the HS256 secret shared with the sidecars)")
        }
        guard secret.value.utf8.count >= HS256Keys.minimumSecretBytes else {
            throw ConfigError(RegistryKey.secret.variable, "must be at least \(HS256Keys.minimumSecretBytes) bytes (HS256)")
        }
        // No "any client" default: a registry that signs cluster tokens for whoever asks lets
        // anyone into every sidecar's cluster API.
        guard let clientID = try reader.text(RegistryKey.clientID) else {
            throw ConfigError(reader.name(RegistryKey.clientID), "is required (the one client the token endpoint serves)")
        }
        guard let clientSecret = try reader.secret(RegistryKey.clientSecret) else {
            throw ConfigError(reader.name(RegistryKey.clientSecret), "is required (the secret of REGISTRY_CLIENT_ID)")
        }
        var c = RegistryConfiguration(settings: .init(secret: secret, clientID: clientID, clientSecret: clientSecret))
        c.address = try reader.address(RegistryKey.address, RegistryKey.port, default: c.address)
        c.settings.leaseTime = try reader.duration(RegistryKey.leaseTime, positive: true) ?? c.settings.leaseTime
        c.logLevel = try reader.logLevel(RegistryKey.logLevel) ?? c.logLevel
        try c.resolveTLS(reader)
        return c
    }

    private mutating func resolveTLS(_ reader: SettingsReader) throws(ConfigError) {
        caFile = try reader.text(RegistryKey.tlsCAFile)
        if let caFile {
            do throws(TLSFailure) {
                _ = try TLSContext.client(trustedCA: caFile, certificate: nil, key: nil, minimum: .v1_2)
            } catch {
                throw ConfigError(reader.name(RegistryKey.tlsCAFile), error.reason)
            }
        }
        let certificate = try reader.text(RegistryKey.tlsCertFile)
        let key = try reader.text(RegistryKey.tlsKeyFile)
        switch (certificate, key) {
        case (nil, nil): return
        case (_?, nil): throw ConfigError(reader.name(RegistryKey.tlsKeyFile), "is required with REGISTRY_TLS_CERT_FILE")
        case (nil, _?): throw ConfigError(reader.name(RegistryKey.tlsCertFile), "is required with REGISTRY_TLS_KEY_FILE")
        case (let certificate?, let key?):
            do throws(TLSFailure) {
                tls = try TLSContext.server(certificate: certificate, key: key, clientCA: nil, allowedSANs: [], minimum: .v1_2)
            } catch {
                throw ConfigError(reader.name(error.part == .key ? RegistryKey.tlsKeyFile : RegistryKey.tlsCertFile), error.reason)
            }
            certificateFile = certificate
            keyFile = key
        }
    }
}
