import Foundation
import SidecarTestCertificates
import SidecarTestSupport
import Testing

/// TLS on the cluster listener through the built binary, called with the curl command (which
/// can also speak the versions and present the certificates we refuse).
@Suite struct TLSProcessTests {
    let certs = TestCertificates.shared

    /// curl's exit status and the HTTP status it printed ("000" when there was no answer).
    func curl(_ arguments: [String]) throws -> (exit: Int32, status: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    func tlsEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ["CLUSTER_TLS_CERT_FILE": certs.serverCertificate, "CLUSTER_TLS_KEY_FILE": certs.serverKey]
        for (k, v) in extra { env[k] = v }
        return env
    }

    @Test func theClusterListener_speaksTLS12And13Only_andItsURLSaysHTTPS() throws {
        let (p, _, cluster) = try SidecarProcess.listening(tlsEnvironment())
        let url = "https://127.0.0.1:\(cluster)/healthz"
        #expect(try curl(["--cacert", certs.caFile, url]).status == "200")
        #expect(try curl(["--cacert", certs.caFile, "--tlsv1.3", url]).status == "200")
        #expect(try curl(["--cacert", certs.caFile, "--tlsv1.2", "--tls-max", "1.2", url]).status == "200")
        #expect(try curl(["--cacert", certs.caFile, "--tls-max", "1.1", url]).status == "000")
        #expect(try curl(["--cacert", certs.otherCAFile, url]).status == "000", "a client that does not trust the CA")
        #expect(try curl(["http://127.0.0.1:\(cluster)/healthz"]).status == "000", "plain HTTP on the TLS port")
        #expect(p.waitForLine(containing: #""cluster_url":"https://127.0.0.1:\#(cluster)""#) != nil)
    }

    @Test func withAClientCA_onlyTheProbesAnswerWithoutACertificate_andOnlyAllowedSANsGetIn() throws {
        let (p, _, cluster) = try SidecarProcess.listening(
            tlsEnvironment([
                "CLUSTER_TLS_CLIENT_CA_FILE": certs.caFile, "CLUSTER_TLS_ALLOWED_SANS": "spiffe://cluster/peer-a,10.9.8.7",
                "JWT_SECRET": SidecarProcess.testSecret,
            ]))
        _ = p
        let base = "https://127.0.0.1:\(cluster)"
        let ca = ["--cacert", certs.caFile]
        #expect(try curl(ca + ["\(base)/healthz"]).status == "200")
        #expect(try curl(ca + ["\(base)/readyz"]).status == "200")
        #expect(try curl(ca + ["-X", "DELETE", "\(base)/servers/x"]).status == "403")
        let peerA = ca + ["--cert", certs.clientCertificate, "--key", certs.clientKey]
        #expect(try curl(peerA + ["-X", "DELETE", "\(base)/servers/x"]).status == "401", "past TLS, the token is still checked")
        #expect(try curl(peerA + ["\(base)/healthz"]).status == "200")
        #expect(try curl(ca + ["--cert", certs.otherSANCertificate, "--key", certs.otherSANKey, "\(base)/healthz"]).status == "000")
        #expect(try curl(ca + ["--cert", certs.strangerCertificate, "--key", certs.strangerKey, "\(base)/healthz"]).status == "000")
    }

    @Test func badTLSSettings_stopStartUp_withOneLineNamingTheVariable() throws {
        for (env, variable, reason) in [
            (["CLUSTER_TLS_CERT_FILE": certs.serverCertificate], "CLUSTER_TLS_KEY_FILE", "is required with CLUSTER_TLS_CERT_FILE"),
            (tlsEnvironment(["CLUSTER_TLS_KEY_FILE": certs.unmatchedKey]), "CLUSTER_TLS_KEY_FILE", "does not match"),
            (tlsEnvironment(["CLUSTER_TLS_CERT_FILE": certs.path("missing.pem")]), "CLUSTER_TLS_CERT_FILE", "cannot be read"),
            (
                tlsEnvironment(["CLUSTER_TLS_CERT_FILE": certs.expiredCertificate, "CLUSTER_TLS_KEY_FILE": certs.expiredKey]),
                "CLUSTER_TLS_CERT_FILE", "expired on"
            ),
            (tlsEnvironment(["CLUSTER_TLS_CLIENT_CA_FILE": certs.serverKey]), "CLUSTER_TLS_CLIENT_CA_FILE", "holds no PEM certificate"),
            (tlsEnvironment(["CLUSTER_TLS_ALLOWED_SANS": "spiffe://x"]), "CLUSTER_TLS_ALLOWED_SANS", "needs CLUSTER_TLS_CLIENT_CA_FILE"),
            (["TLS_CA_FILE": certs.serverKey], "TLS_CA_FILE", "holds no PEM certificate"),
            (["TLS_MIN_VERSION": "1.1"], "TLS_MIN_VERSION", "'1.1' is not 1.2 or 1.3"),
        ] {
            var environment = env
            environment["LOCAL_PORT"] = "0"
            environment["CLUSTER_PORT"] = "0"
            let r = try SidecarProcess.run([], environment: environment)
            let lines = r.err.split(separator: "\n")
            #expect(r.status == 64 && lines.count == 1, "\(variable): \(r.err)")
            #expect(lines.first?.hasPrefix("cluster-sidecar: configuration error: \(variable): ") == true, "\(r.err)")
            #expect(lines.first?.contains(reason) == true, "\(variable): \(r.err)")
        }
    }

    /// A rotation: new handshakes get the new certificate after SIGHUP; a bad file then is
    /// refused with one line naming it, and the one in use stays.
    @Test func sighup_rotatesTheCertificate_andABadFileKeepsTheOneInUse() throws {
        let dir = NSTemporaryDirectory() + "tls-rotation-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (certificate, key) = (dir + "/tls.crt", dir + "/tls.key")
        try FileManager.default.copyItem(atPath: certs.serverCertificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: certs.serverKey, toPath: key)
        let (p, _, cluster) = try SidecarProcess.listening(["CLUSTER_TLS_CERT_FILE": certificate, "CLUSTER_TLS_KEY_FILE": key])
        let url = "https://127.0.0.1:\(cluster)/healthz"
        #expect(try curl(["--cacert", certs.caFile, url]).status == "200")

        for (from, to) in [(certs.rotatedCertificate, certificate), (certs.rotatedKey, key)] {
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        p.signal(SIGHUP)
        #expect(p.waitForLine(containing: "cluster_tls") != nil)
        #expect(try curl(["--cacert", certs.otherCAFile, url]).status == "200")
        #expect(try curl(["--cacert", certs.caFile, url]).status == "000")

        try "not a certificate\n".write(toFile: certificate, atomically: true, encoding: .utf8)
        p.signal(SIGHUP)
        let refused = p.waitForLine(containing: "reload failed")
        #expect(refused?.contains("CLUSTER_TLS_CERT_FILE") == true, "\(refused ?? "no line")")
        #expect(try curl(["--cacert", certs.otherCAFile, url]).status == "200")
    }

    /// A Kubernetes secret volume's update: a new folder, and the `..data` symlink swapped to
    /// it in one rename. The sidecar notices without a signal.
    @Test func aSecretVolumesSymlinkSwap_rotatesTheCertificate_withoutASignal() throws {
        let fm = FileManager.default
        let dir = NSTemporaryDirectory() + "tls-volume-\(UUID().uuidString)"
        try fm.createDirectory(atPath: dir + "/v1", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/v2", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        for (version, certificate, key) in [
            ("v1", certs.serverCertificate, certs.serverKey), ("v2", certs.rotatedCertificate, certs.rotatedKey),
        ] {
            try fm.copyItem(atPath: certificate, toPath: "\(dir)/\(version)/tls.crt")
            try fm.copyItem(atPath: key, toPath: "\(dir)/\(version)/tls.key")
        }
        try fm.createSymbolicLink(atPath: dir + "/..data", withDestinationPath: "v1")
        for name in ["tls.crt", "tls.key"] { try fm.createSymbolicLink(atPath: "\(dir)/\(name)", withDestinationPath: "..data/\(name)") }
        let (p, _, cluster) = try SidecarProcess.listening([
            "CLUSTER_TLS_CERT_FILE": dir + "/tls.crt", "CLUSTER_TLS_KEY_FILE": dir + "/tls.key",
        ])
        let url = "https://127.0.0.1:\(cluster)/healthz"
        #expect(try curl(["--cacert", certs.caFile, url]).status == "200")

        try fm.createSymbolicLink(atPath: dir + "/..data_tmp", withDestinationPath: "v2")
        #expect(rename(dir + "/..data_tmp", dir + "/..data") == 0)
        #expect(p.waitForLine(containing: "cluster_tls") != nil)
        #expect(try curl(["--cacert", certs.otherCAFile, url]).status == "200")
    }

    /// curl's body for a JSON call.
    func curlJSON(_ arguments: [String]) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "--max-time", "10"] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// A fan-out to `https://` nodes goes through our own client: a node whose certificate
    /// verifies answers; one whose certificate comes from another CA fails with code `tls`.
    @Test func aFanOutToHTTPSNodes_verifiesThem_andATLSFailureHasItsCode() throws {
        let (good, _, goodPort) = try SidecarProcess.listening(tlsEnvironment())
        let (bad, _, badPort) = try SidecarProcess.listening([
            "CLUSTER_TLS_CERT_FILE": certs.rotatedCertificate, "CLUSTER_TLS_KEY_FILE": certs.rotatedKey,
        ])
        let (p, local, cluster) = try SidecarProcess.listening([
            "TLS_CA_FILE": certs.caFile, "JWT_SECRET": SidecarProcess.testSecret, "SERVER_TYPE": "echo",
            "SERVER_URL": "http://127.0.0.1:9/app",
        ])
        _ = (good, bad, p)
        let token = JWTVerifierTests.signed(
            header: #"{"alg":"HS256","typ":"JWT"}"#, payload: #"{"exp":\#(Int(Date().timeIntervalSince1970) + 300),"cluster":true}"#)
        for (id, port) in [("good", goodPort), ("bad", badPort)] {
            let body = #"{"id":"\#(id)","type":"echo","url":"https://127.0.0.1:\#(port)","clusterUrl":"https://127.0.0.1:\#(port)"}"#
            let pushed = try curl([
                "-X", "POST", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json", "-d", body,
                "http://127.0.0.1:\(cluster)/itResources",
            ])
            #expect(pushed.status == "201")
        }
        let answer = try curlJSON(["-d", #"{"url":"/healthz"}"#, "http://127.0.0.1:\(local)/cluster/fanout"])
        let results = (answer["results"] as? [[String: Any]]) ?? []
        let failures = (answer["failures"] as? [[String: Any]]) ?? []
        func id(_ entry: [String: Any]) -> String? { (entry["server"] as? [String: Any])?["id"] as? String }
        #expect(results.contains { id($0) == "good" && ($0["result"] as? [String: Any])?["status"] as? Int == 200 }, "\(answer)")
        let badFailure = failures.first { id($0) == "bad" }?["error"] as? [String: Any]
        #expect(badFailure?["code"] as? String == "tls", "\(answer)")
        #expect((badFailure?["message"] as? String)?.contains("certificate verify failed") == true, "\(answer)")
    }

    /// The compose example's shape: the registry over TLS, sidecars with mutual TLS on their
    /// cluster API; they register over TLS, and learn of each other through the registry's
    /// pushes and their announcements, each call presenting a certificate from the CA.
    @Test func aRegistryOverTLS_andSidecarsOverMutualTLS_formACluster() throws {
        let (registry, port) = try SidecarProcess.registry(
            leaseTime: 30,
            extra: ["--tls-cert-file", certs.serverCertificate, "--tls-key-file", certs.serverKey, "--tls-ca-file", certs.caFile])
        _ = registry
        var env = SidecarProcess.memberEnvironment(
            registry: port,
            extra: tlsEnvironment(["CLUSTER_TLS_CLIENT_CA_FILE": certs.caFile, "TLS_CA_FILE": certs.caFile, "CLUSTER_ADDRESS": "127.0.0.1"])
        )
        env["MIT_URL"] = "https://127.0.0.1:\(port)"
        env["OAUTH_TOKEN_URL"] = "https://127.0.0.1:\(port)/oauth/token"
        let (a, localA, _) = try SidecarProcess.listening(env)
        let (b, localB, _) = try SidecarProcess.listening(env)
        _ = (a, b)
        func servers(_ local: UInt16) -> Int {
            (try? curlJSON(["http://127.0.0.1:\(local)/status"]))?["CLUSTER_STATUS_SERVERS"] as? Int ?? -1
        }
        #expect(eventually(8) { servers(localA) == 2 && servers(localB) == 2 }, "A sees \(servers(localA)), B \(servers(localB))")
        #expect((try? curlJSON(["http://127.0.0.1:\(localA)/status"]))?["REGISTRATION_STATUS"] as? String == "registered")
    }
}
