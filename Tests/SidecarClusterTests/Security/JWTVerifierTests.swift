import Crypto
import CryptoExtras
import Foundation
import JWTKit
import SidecarTestSupport
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarSettings

/// Every bad-token case the cluster API must refuse, and the good ones it must take.
@Suite struct JWTVerifierTests {
    static let secret = Secret("0123456789abcdef0123456789abcdef")
    static let now = 1_800_000_000.0

    struct Claims: JWTPayload {
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var cluster: Bool?
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    static func claims(exp: Double = now + 300, nbf: Double? = nil, iss: String? = nil, aud: String? = nil) -> Claims {
        Claims(
            exp: ExpirationClaim(value: Date(timeIntervalSince1970: exp)),
            nbf: nbf.map { NotBeforeClaim(value: Date(timeIntervalSince1970: $0)) },
            iss: iss.map { IssuerClaim(value: $0) }, aud: aud.map { AudienceClaim(value: [$0]) }, cluster: true)
    }

    static func hs256(_ c: Claims, secret: String = secret.value) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(c)
    }

    func verifier(secret: Secret? = secret, pem: String? = nil, iss: String? = nil, aud: String? = nil) async throws -> JWTVerifier {
        try await JWTVerifier.make(secret: secret, publicKeyPEM: pem, issuer: iss, audience: aud, now: { Self.now })
    }

    func rejection(_ v: JWTVerifier, _ token: String) async -> String? {
        do throws(TokenRejection) {
            _ = try await v.verify(token)
            return nil
        } catch {
            return error.label
        }
    }

    @Test func hs256_valid_isAccepted() async throws {
        let v = try await verifier()
        #expect(await rejection(v, try await Self.hs256(Self.claims())) == nil)
    }

    @Test func algNone_isRefused() async throws {
        func b64(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
        }
        let token = b64(#"{"alg":"none","typ":"JWT"}"#) + "." + b64(#"{"exp":\#(Int(Self.now) + 300),"cluster":true}"#) + "."
        #expect(await rejection(try await verifier(), token) == "algorithm_not_accepted")
    }

    /// A token signed with the test secret over exactly `header` and `payload` (JSON text as given).
    static func signed(header: String, payload: String) -> String {
        func b64(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
        }
        let input = b64(Array(header.utf8)) + "." + b64(Array(payload.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: Array(secret.value.utf8)))
        return input + "." + b64(Array(mac))
    }

    @Test(
        arguments: [
            (#"{"alg":"HS256","crit":["exp"]}"#, #"{"exp":EXP,"cluster":true}"#, "unsupported_crit"),
            (#"{"alg":"HS256","crit":["x-ours"],"x-ours":1}"#, #"{"exp":EXP}"#, "unsupported_crit"),
            (#"{"alg":"HS256"}"#, #"{"exp":EXP,"exp":1}"#, "duplicate_claim"),
            (#"{"alg":"HS256"}"#, #"{"exp":EXP,"\u0065xp":1}"#, "duplicate_claim"),
            (#"{"alg":"HS256","alg":"HS256"}"#, #"{"exp":EXP}"#, "duplicate_claim"),
            (#"{"alg":"HS256"}"#, #"{"exp":"tomorrow"}"#, "wrong_claim_type"),
            (#"{"alg":"HS256"}"#, #"{"exp":EXP,"aud":5}"#, "wrong_claim_type"),
            (#"{"alg":"HS256"}"#, #"{"exp":EXP,"cluster":"yes"}"#, "wrong_claim_type"),
            (#"{"alg":"HS256"}"#, #"{"exp":EXP,"iss":["a"]}"#, "wrong_claim_type"),
            (#"{"alg":"HS256"}"#, #"{"exp":EXP,"cluster":true}"#, nil),
        ] as [(String, String, String?)])
    func frontEnd_refusesCritDuplicatesAndWrongTypes_beforeAnyKey(header: String, payload: String, expected: String?) async throws {
        let token = Self.signed(header: header, payload: payload.replacingOccurrences(of: "EXP", with: "\(Int(Self.now) + 300)"))
        #expect(await rejection(try await verifier(), token) == expected)
    }

    @Test func badSignature_isRefused() async throws {
        let token = try await Self.hs256(Self.claims(), secret: String(repeating: "x", count: 32))
        #expect(await rejection(try await verifier(), token) == "bad_signature")
    }

    @Test func expired_beyondLeeway_isRefused_within_isAccepted() async throws {
        let v = try await verifier()
        #expect(await rejection(v, try await Self.hs256(Self.claims(exp: Self.now - 61))) == "expired")
        #expect(await rejection(v, try await Self.hs256(Self.claims(exp: Self.now - 59))) == nil)
        #expect(await rejection(v, try await Self.hs256(Claims(cluster: true))) == "expired", "a token without exp never expires: refused")
    }

    @Test func notYetValid_beyondLeeway_isRefused() async throws {
        let v = try await verifier()
        #expect(await rejection(v, try await Self.hs256(Self.claims(nbf: Self.now + 61))) == "not_yet_valid")
        #expect(await rejection(v, try await Self.hs256(Self.claims(nbf: Self.now + 59))) == nil)
    }

    @Test func issuerAndAudience_areCheckedWhenConfigured() async throws {
        let v = try await verifier(iss: "mit", aud: "sidecars")
        #expect(await rejection(v, try await Self.hs256(Self.claims(iss: "mit", aud: "sidecars"))) == nil)
        #expect(await rejection(v, try await Self.hs256(Self.claims(iss: "other", aud: "sidecars"))) == "wrong_issuer")
        #expect(await rejection(v, try await Self.hs256(Self.claims(iss: "mit", aud: "others"))) == "wrong_audience")
        #expect(await rejection(v, try await Self.hs256(Self.claims())) == "wrong_issuer")
    }

    @Test(arguments: ["", "abc", "a.b", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.!!!.x"])
    func malformed_isRefused(token: String) async throws {
        #expect(await rejection(try await verifier(), token) != nil)
    }

    @Test func rs256AndES256_withSeveralKeysChosenByKid() async throws {
        let rsaA = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let rsaB = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let ec = ES256PrivateKey()
        let pem =
            "kid: a\n\(rsaA.publicKey.pemRepresentation)\n# kid: b\n\(rsaB.publicKey.pemRepresentation)\n\(ec.publicKey.pemRepresentation)\n"
        let v = try await verifier(secret: nil, pem: pem)
        let signA = JWTKeyCollection()
        await signA.add(rsa: rsaA, digestAlgorithm: .sha256, kid: "a")
        let signB = JWTKeyCollection()
        await signB.add(rsa: rsaB, digestAlgorithm: .sha256, kid: "b")
        let signEC = JWTKeyCollection()
        await signEC.add(ecdsa: ec)
        #expect(await rejection(v, try await signA.sign(Self.claims(), kid: "a")) == nil)
        #expect(await rejection(v, try await signB.sign(Self.claims(), kid: "b")) == nil)
        #expect(await rejection(v, try await signEC.sign(Self.claims())) == nil)
        // key a's signature presented as kid b: refused
        #expect(await rejection(v, try await signA.sign(Self.claims(), kid: "b")) == "bad_signature")
        // unknown kid with only labelled RSA keys: no key
        #expect(await rejection(v, try await signA.sign(Self.claims(), kid: "zzz")) == "no_matching_key")
        // HS256 when only public keys are configured: refused, whatever the secret
        #expect(await rejection(v, try await Self.hs256(Self.claims())) == "algorithm_not_accepted")
    }

    @Test func noKeys_refusesEverything() async throws {
        let v = try await verifier(secret: nil)
        #expect(!v.hasKeys)
        #expect(await rejection(v, try await Self.hs256(Self.claims())) == "no_keys_configured")
    }

    @Test func keyFile_withoutKeys_isAConfigError() async {
        await #expect(throws: ConfigError.self) {
            _ = try await JWTVerifier.make(secret: nil, publicKeyPEM: "nothing here", issuer: nil, audience: nil)
        }
        await #expect(throws: ConfigError.self) {
            _ = try await JWTVerifier.make(
                secret: nil, publicKeyPEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", issuer: nil, audience: nil)
        }
    }
}
