import FoundationEssentials
import JWTKit
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarSettings

/// The claims of the tokens the embedded registry issues (client-credentials grant) and
/// signs for its own calls to sidecars: `cluster: true` marks a cluster token.
package struct ClusterClaims: JWTPayload, Equatable {
    package var iss: IssuerClaim
    package var sub: SubjectClaim
    package var iat: IssuedAtClaim
    package var exp: ExpirationClaim
    package var cluster: Bool?

    package init(issuer: String, subject: String, issuedAt: Date, lifetime: Double, cluster: Bool) {
        iss = IssuerClaim(value: issuer)
        sub = SubjectClaim(value: subject)
        iat = IssuedAtClaim(value: issuedAt)
        exp = ExpirationClaim(value: issuedAt.addingTimeInterval(lifetime))
        self.cluster = cluster ? true : nil
    }

    package func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

/// HS256 signing and checking with one shared secret (jwt-kit).
package struct HS256Keys: Sendable {
    private let keys: JWTKeyCollection

    /// The shortest secret HS256 accepts: as long as the hash (RFC 7518 §3.2).
    package static let minimumSecretBytes = 32

    /// Keys for `secret`, which must be at least `minimumSecretBytes` long (the caller checks).
    package static func make(secret: Secret) async -> HS256Keys {
        precondition(secret.value.utf8.count >= minimumSecretBytes, "HS256 secret shorter than 32 bytes")
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret.value), digestAlgorithm: .sha256)
        return HS256Keys(keys: keys)
    }

    /// A signed token for `claims`.
    package func sign(_ claims: ClusterClaims) async throws -> String {
        try await keys.sign(claims)
    }

    /// The claims of a valid, unexpired token signed with our secret; nil otherwise.
    package func verify(_ token: String) async -> ClusterClaims? {
        try? await keys.verify(token, as: ClusterClaims.self)
    }
}
