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
    case store = "REGISTRY_STORE"
    case etcdEndpoints = "ETCD_ENDPOINTS"
    case etcdPrefix = "ETCD_PREFIX"
    case etcdCAFile = "ETCD_CA_FILE"
    case etcdCertFile = "ETCD_CERT_FILE"
    case etcdKeyFile = "ETCD_KEY_FILE"

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
        case .store: "--store"
        case .etcdEndpoints: "--etcd-endpoints"
        case .etcdPrefix: "--etcd-prefix"
        case .etcdCAFile: "--etcd-ca-file"
        case .etcdCertFile: "--etcd-cert-file"
        case .etcdKeyFile: "--etcd-key-file"
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
        case .store: "Where servers are kept: memory (this process only) or etcd (shared by any number of replicas)."
        case .etcdEndpoints: "etcd client URLs, comma-separated (http://etcd-0:2379,...); a member that fails is passed over."
        case .etcdPrefix: "Key prefix the registry keeps its servers and push state under."
        case .etcdCAFile: "PEM CAs trusted for https:// etcd endpoints."
        case .etcdCertFile: "PEM client certificate presented to etcd."
        case .etcdKeyFile: "PEM private key of ETCD_CERT_FILE."
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
        case .store: "memory"
        case .etcdEndpoints: "required with etcd"
        case .etcdPrefix: "/cluster-sidecar/"
        case .etcdCAFile: "the system's CA bundle"
        case .etcdCertFile: "none"
        case .etcdKeyFile: "required with ETCD_CERT_FILE"
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
    /// Where servers are kept.
    package var store = StoreSetting.memory

    /// The store as configured: memory, or etcd with its endpoints, prefix and TLS files.
    package enum StoreSetting: Sendable, Equatable {
        case memory
        case etcd(endpoints: [String], prefix: String, caFile: String?, certificateFile: String?, keyFile: String?)
    }

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
        c.store = try resolveStore(reader)
        return c
    }

    private static func resolveStore(_ reader: SettingsReader) throws(ConfigError) -> StoreSetting {
        switch try reader.text(RegistryKey.store) ?? "memory" {
        case "memory": return .memory
        case "etcd": break
        case let other: throw ConfigError(reader.name(RegistryKey.store), "must be memory or etcd, not '\(other)'")
        }
        guard let endpoints = try reader.urls(RegistryKey.etcdEndpoints), !endpoints.isEmpty else {
            throw ConfigError(reader.name(RegistryKey.etcdEndpoints), "is required with REGISTRY_STORE=etcd (etcd's client URLs)")
        }
        let prefix = try reader.text(RegistryKey.etcdPrefix) ?? "/cluster-sidecar/"
        guard !prefix.isEmpty else { throw ConfigError(reader.name(RegistryKey.etcdPrefix), "must not be empty") }
        let caFile = try reader.text(RegistryKey.etcdCAFile)
        let certificate = try reader.text(RegistryKey.etcdCertFile)
        let key = try reader.text(RegistryKey.etcdKeyFile)
        if certificate != nil && key == nil { throw ConfigError(reader.name(RegistryKey.etcdKeyFile), "is required with ETCD_CERT_FILE") }
        if key != nil && certificate == nil { throw ConfigError(reader.name(RegistryKey.etcdCertFile), "is required with ETCD_KEY_FILE") }
        do throws(TLSFailure) {
            if caFile != nil || certificate != nil {
                _ = try TLSContext.client(trustedCA: caFile, certificate: certificate, key: key, minimum: .v1_2)
            }
        } catch {
            let at: RegistryKey = error.part == .key ? .etcdKeyFile : (error.part == .certificate ? .etcdCertFile : .etcdCAFile)
            throw ConfigError(reader.name(at), error.reason)
        }
        return .etcd(endpoints: endpoints, prefix: prefix, caFile: caFile, certificateFile: certificate, keyFile: key)
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
