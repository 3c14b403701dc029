import Foundation

/// Certificates for the TLS tests, made once per test run with the `openssl` command into a
/// temporary folder: a CA, a server certificate for 127.0.0.1 and localhost, client
/// certificates with SPIFFE ids, one from another CA, one expired, and a key that matches
/// nothing. ECDSA P-256 throughout.
package final class TestCertificates: Sendable {
    package let directory: String

    /// The set for this run (made on first use).
    package static let shared: TestCertificates = {
        do {
            return try TestCertificates()
        } catch {
            fatalError("cannot make test certificates with openssl: \(error)")
        }
    }()

    package var caFile: String { path("ca.pem") }
    package var otherCAFile: String { path("other-ca.pem") }
    package var serverCertificate: String { path("server.pem") }
    package var serverKey: String { path("server.key") }
    /// The server's second certificate, from the other CA (a rotation to it shows).
    package var rotatedCertificate: String { path("rotated.pem") }
    package var rotatedKey: String { path("rotated.key") }
    /// spiffe://cluster/peer-a, from the CA.
    package var clientCertificate: String { path("client.pem") }
    package var clientKey: String { path("client.key") }
    /// spiffe://cluster/peer-b, from the CA.
    package var otherSANCertificate: String { path("client-b.pem") }
    package var otherSANKey: String { path("client-b.key") }
    /// spiffe://cluster/peer-a, from the other CA.
    package var strangerCertificate: String { path("stranger.pem") }
    package var strangerKey: String { path("stranger.key") }
    /// The server's name, expired (its notAfter is the second it was made).
    package var expiredCertificate: String { path("expired.pem") }
    package var expiredKey: String { path("expired.key") }
    /// A key no certificate here matches.
    package var unmatchedKey: String { path("unmatched.key") }

    package func path(_ name: String) -> String { directory + "/" + name }

    private init() throws {
        directory = NSTemporaryDirectory() + "sidecar-certs-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try makeCA("ca", "test CA")
        try makeCA("other-ca", "other CA")
        try issue("server", by: "ca", subject: "sidecar", san: "IP:127.0.0.1,DNS:localhost")
        try issue("rotated", by: "other-ca", subject: "sidecar rotated", san: "IP:127.0.0.1,DNS:localhost")
        try issue("client", by: "ca", subject: "peer a", san: "URI:spiffe://cluster/peer-a")
        try issue("client-b", by: "ca", subject: "peer b", san: "URI:spiffe://cluster/peer-b")
        try issue("stranger", by: "other-ca", subject: "stranger", san: "URI:spiffe://cluster/peer-a")
        try issue("expired", by: "ca", subject: "sidecar", san: "IP:127.0.0.1", days: 0)
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path("unmatched.key")])
        // notAfter is the second the expired one was made: let that second pass.
        Thread.sleep(forTimeInterval: 1.1)
    }

    private func makeCA(_ name: String, _ subject: String) throws {
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("\(name).key"), "-out",
            path("\(name).pem"), "-days", "30", "-subj", "/CN=\(subject)",
        ])
    }

    private func issue(_ name: String, by ca: String, subject: String, san: String, days: Int = 30) throws {
        try openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("\(name).key"), "-out",
            path("\(name).csr"), "-subj", "/CN=\(subject)",
        ])
        try "subjectAltName=\(san)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"), "-CAcreateserial", "-out",
            path("\(name).pem"), "-days", "\(days)", "-extfile", path("\(name).ext"),
        ])
    }

    private func openssl(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CertificateError(command: arguments.prefix(2).joined(separator: " ")) }
    }

    struct CertificateError: Error { let command: String }
}
