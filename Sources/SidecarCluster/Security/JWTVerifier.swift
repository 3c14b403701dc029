import FoundationEssentials
import JWTKit
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarSettings

/// Why an inbound token was refused. The label is payload-free; nothing here quotes the token.
package struct TokenRejection: Error, Sendable, Equatable, CustomStringConvertible {
    package let label: String
    /// Which part is at fault (a claim's name), when one is: never a value.
    package var detail: String?
    package var description: String { detail.map { "\(label) (\($0))" } ?? label }

    init(label: String, detail: String? = nil) {
        self.label = label
        self.detail = detail
    }

    static let missing = TokenRejection(label: "missing_token")
    static let malformed = TokenRejection(label: "malformed_token")
    static let algorithm = TokenRejection(label: "algorithm_not_accepted")
    static let noKey = TokenRejection(label: "no_matching_key")
    static let signature = TokenRejection(label: "bad_signature")
    static let expired = TokenRejection(label: "expired")
    static let notYetValid = TokenRejection(label: "not_yet_valid")
    static let issuer = TokenRejection(label: "wrong_issuer")
    static let audience = TokenRejection(label: "wrong_audience")
    static let noKeysConfigured = TokenRejection(label: "no_keys_configured")
    /// A valid token without `"cluster": true`: not for the cluster API (contract: cluster token).
    static let notClusterToken = TokenRejection(label: "not_a_cluster_token")
    /// The header's `crit` names extensions, and this verifier understands none (RFC 7515 §4.1.11).
    static let unsupportedCritical = TokenRejection(label: "unsupported_crit")
    /// A header parameter or claim name appears twice (RFC 7519 §4: refuse, do not pick one).
    static func duplicate(_ name: String) -> TokenRejection { TokenRejection(label: "duplicate_claim", detail: name) }
    /// A registered claim of the wrong JSON type.
    static func claimType(_ name: String) -> TokenRejection { TokenRejection(label: "wrong_claim_type", detail: name) }
}

/// The claims the cluster API looks at; signature checking is jwt-kit's, claim checks ours
/// (with leeway and an injectable clock).
package struct InboundClaims: JWTPayload {
    package var exp: ExpirationClaim?
    package var nbf: NotBeforeClaim?
    package var iss: IssuerClaim?
    package var aud: AudienceClaim?
    package var cluster: Bool?

    package func verify(using algorithm: some JWTAlgorithm) throws {}
}

/// Checks bearer JWTs on the cluster API: HS256 with `JWT_SECRET`, RS256 and ES256 with the PEM
/// public keys of `JWT_PUBLIC_KEY_FILE` (a key is chosen by `kid` when both name one).
/// `alg: none`, other algorithms, and HS256 without a configured secret are refused.
package struct JWTVerifier: Sendable {
    /// One public key: its `kid` label (nil matches any) and a collection holding only it.
    struct Key: Sendable {
        var kid: String?
        var alg: String
        var keys: JWTKeyCollection
    }

    private let hmac: JWTKeyCollection?
    private let publicKeys: [Key]
    let issuer: String?
    let audience: String?
    let leeway: Double
    let now: @Sendable () -> Double

    /// True when no key is configured: every call but health is refused.
    package var hasKeys: Bool { hmac != nil || !publicKeys.isEmpty }

    /// A verifier with no key: it refuses every token (the cluster API then serves only probes).
    package static func refusingAll() -> JWTVerifier {
        JWTVerifier(hmac: nil, publicKeys: [], issuer: nil, audience: nil, leeway: 60, now: WallClock.now)
    }

    /// A verifier for the configured keys. Throws `ConfigError` for an unreadable or keyless PEM file.
    package static func make(
        secret: Secret?, publicKeyPEM: String?, pemVariable: String = "JWT_PUBLIC_KEY_FILE", issuer: String?, audience: String?,
        leeway: Double = 60, now: @escaping @Sendable () -> Double = WallClock.now
    ) async throws(ConfigError) -> JWTVerifier {
        var hmac: JWTKeyCollection?
        if let secret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret.value), digestAlgorithm: .sha256)
            hmac = keys
        }
        var publicKeys: [Key] = []
        if let pem = publicKeyPEM {
            for block in PEMBlocks.parse(pem) {
                let keys = JWTKeyCollection()
                if let rsa = try? Insecure.RSA.PublicKey(pem: block.pem) {
                    await keys.add(rsa: rsa, digestAlgorithm: .sha256)
                    publicKeys.append(Key(kid: block.kid, alg: "RS256", keys: keys))
                } else if let ec = try? ES256PublicKey(pem: block.pem) {
                    await keys.add(ecdsa: ec)
                    publicKeys.append(Key(kid: block.kid, alg: "ES256", keys: keys))
                } else {
                    throw ConfigError(pemVariable, "holds a PEM block that is not an RSA or P-256 public key")
                }
            }
            if publicKeys.isEmpty { throw ConfigError(pemVariable, "holds no PEM public key") }
        }
        return JWTVerifier(hmac: hmac, publicKeys: publicKeys, issuer: issuer, audience: audience, leeway: leeway, now: now)
    }

    /// The claims of `token` when its signature, algorithm and claims hold.
    package func verify(_ token: String) async throws(TokenRejection) -> InboundClaims {
        guard hasKeys else { throw .noKeysConfigured }
        let header = try JWTFrontEnd.check(token)
        let candidates: [JWTKeyCollection]
        switch header.alg {
        case "HS256":
            guard let hmac else { throw .algorithm }
            candidates = [hmac]
        case "RS256", "ES256":
            let sameAlg = publicKeys.filter { $0.alg == header.alg }
            let named = sameAlg.filter { header.kid != nil && $0.kid == header.kid }
            candidates = (named.isEmpty ? sameAlg.filter { $0.kid == nil || header.kid == nil } : named).map(\.keys)
            guard !candidates.isEmpty else { throw .noKey }
        default:
            throw .algorithm
        }
        var claims: InboundClaims?
        for keys in candidates {
            if let c = try? await keys.verify(token, as: InboundClaims.self) {
                claims = c
                break
            }
        }
        guard let claims else { throw .signature }
        try check(claims)
        return claims
    }

    private func check(_ c: InboundClaims) throws(TokenRejection) {
        let t = now()
        guard let exp = c.exp else { throw .expired }
        if exp.value.timeIntervalSince1970 + leeway <= t { throw .expired }
        if let nbf = c.nbf, nbf.value.timeIntervalSince1970 - leeway > t { throw .notYetValid }
        if let issuer, c.iss?.value != issuer { throw .issuer }
        if let audience, !(c.aud?.value.contains(audience) ?? false) { throw .audience }
    }

}

/// PEM blocks with an optional `kid: <id>` line before each.
enum PEMBlocks {
    static func parse(_ text: String) -> [(kid: String?, pem: String)] {
        var blocks: [(String?, String)] = []
        var kid: String?
        var current: [Substring]?
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = trim(line)
            if trimmed.hasPrefix("-----BEGIN ") {
                current = [Substring(trimmed)]
            } else if trimmed.hasPrefix("-----END "), var block = current {
                block.append(Substring(trimmed))
                blocks.append((kid, block.joined(separator: "\n") + "\n"))
                current = nil
                kid = nil
            } else if current != nil {
                current!.append(Substring(trimmed))
            } else {
                let label = trimmed.hasPrefix("#") ? trim(trimmed.dropFirst()) : trimmed
                if label.lowercased().hasPrefix("kid:") { kid = trim(label.dropFirst(4)) }
            }
        }
        return blocks
    }

    static func trim(_ s: some StringProtocol) -> String { String(s.trimmingOWS()) }
}

/// base64url without padding (RFC 4648 §5).
enum Base64URL {
    static func decode(_ s: String) -> [UInt8]? {
        var b64 = String(s.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while b64.count % 4 != 0 { b64 += "=" }
        return Data(base64Encoded: b64).map(Array.init)
    }
}
