import Logging
import SidecarClient
import SidecarCluster
import SidecarPosix
import SidecarSettings
import SidecarTLS
import Synchronization

/// SIGHUP: reads the settings again and swaps in the ones a running sidecar can take without
/// dropping a connection or its registration: the cluster API's keys (`JWT_SECRET(_FILE)`,
/// `JWT_PUBLIC_KEY_FILE`), `LOCAL_API_TOKEN(_FILE)`, the credentials for mIT and peers
/// (`MIT_TOKEN(_FILE)`, `OAUTH_CLIENT_SECRET(_FILE)`), the log level (`LOG_LEVEL_FILE`) and the
/// cluster listener's certificate, key and client CAs (`CLUSTER_TLS_*_FILE`).
///
/// The environment of a running process cannot change, so in practice what changes is the
/// content of the `*_FILE` files (mounted secrets). Everything is read and checked first; a
/// failure (a missing file, a secret under 32 bytes, a bad PEM) changes nothing and logs one
/// line saying why.
final class SettingsRefresher: Sendable {
    private let resolve: @Sendable () throws(ConfigError) -> SidecarConfiguration
    private let context: SidecarContext
    private let tokens: TokenProvider
    private let levels: LogLevelSwitch
    /// The cluster listener's TLS, whose context every refresh makes again from its files.
    private let clusterTLS: TLSListener?
    private let logger: Logger
    /// What the running sidecar uses now: the settings and the PEM text its verifier holds.
    private let current: Mutex<(configuration: SidecarConfiguration, pem: String?)>

    init(
        configuration: SidecarConfiguration, pem: String?, resolve: @escaping @Sendable () throws(ConfigError) -> SidecarConfiguration,
        context: SidecarContext, tokens: TokenProvider, levels: LogLevelSwitch, clusterTLS: TLSListener?, logger: Logger
    ) {
        self.clusterTLS = clusterTLS
        current = Mutex((configuration, pem))
        self.resolve = resolve
        self.context = context
        self.tokens = tokens
        self.levels = levels
        self.logger = logger
    }

    func refresh() async {
        let new: SidecarConfiguration
        let pem: String?
        let verifier: JWTVerifier
        do throws(ConfigError) {
            new = try resolve()
            pem = try Verifiers.readPEM(new)
            verifier = try await Verifiers.make(new, pem: pem)
        } catch {
            logger.error("reload failed: nothing changed", metadata: ["reason": "\(error.description)"])
            return
        }
        let (old, oldPEM) = current.withLock { $0 }
        var changed: [String] = []
        if new.jwtSecret != old.jwtSecret || pem != oldPEM || new.jwtIssuer != old.jwtIssuer || new.jwtAudience != old.jwtAudience {
            context.verifier?.replace(with: verifier)
            changed.append("jwt_keys")
        }
        if new.localAPIToken != old.localAPIToken {
            context.localToken.replace(with: new.localAPIToken)
            changed.append("local_api_token")
        }
        if new.mitToken != old.mitToken || new.oauthClientSecret != old.oauthClientSecret || new.oauthClientID != old.oauthClientID {
            await tokens.replaceSource(Verifiers.tokenSource(new))
            changed.append("registry_credentials")
        }
        // The files may hold new material under the same names: new handshakes use it, the
        // connections already open keep theirs.
        if let clusterTLS, let tls = new.clusterTLS {
            clusterTLS.replace(with: tls.context)
            changed.append("cluster_tls")
        }
        // Our own client presents the same certificate and trusts the same CAs (read again
        // each time; named in the log when they come from files of ours).
        if let client = context.fanOut?.clientTLS, let fresh = try? new.outboundTLS.context() {
            client.replace(with: fresh)
            if new.outboundTLS.caFile != nil || new.outboundTLS.certificateFile != nil { changed.append("outbound_tls") }
        }
        if new.logLevel != old.logLevel {
            levels.level = new.logLevel
            changed.append("log_level")
        }
        current.withLock { $0 = (new, pem) }
        logger.notice("reloaded", metadata: ["changed": .array(changed.map { .string($0) })])
    }
}

/// The pieces of start-up a settings refresh repeats: the cluster API's verifier and the token source.
enum Verifiers {
    /// The text of `JWT_PUBLIC_KEY_FILE`, when set.
    static func readPEM(_ c: SidecarConfiguration) throws(ConfigError) -> String? {
        guard let path = c.jwtPublicKeyFile else { return nil }
        do {
            return try SettingFile.read(path)
        } catch {
            throw ConfigError(ConfigKey.jwtPublicKeyFile.variable, "'\(path)' \(error.reason)")
        }
    }

    /// The cluster API's checks; one that refuses every call when no key is configured.
    static func make(_ c: SidecarConfiguration, pem: String?) async throws(ConfigError) -> JWTVerifier {
        if c.jwtSecret == nil && pem == nil { return .refusingAll() }
        return try await JWTVerifier.make(secret: c.jwtSecret, publicKeyPEM: pem, issuer: c.jwtIssuer, audience: c.jwtAudience)
    }

    /// `MIT_TOKEN`, else the client-credentials grant, else none.
    static func tokenSource(_ c: SidecarConfiguration) -> TokenProvider.Source {
        if let token = c.mitToken { return .fixed(token) }
        if !c.oauthTokenURLs.isEmpty, let id = c.oauthClientID, let secret = c.oauthClientSecret {
            return .clientCredentials(urls: c.oauthTokenURLs, clientID: id, secret: secret)
        }
        return .none
    }
}
