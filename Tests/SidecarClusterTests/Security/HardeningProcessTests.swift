import Foundation
import SidecarTestSupport
import Testing

/// The second security pass through the built binary: the local API's Host and Origin checks,
/// the registry's one client, workers without the sidecar's credentials and at its priority,
/// `status` on hostile ids, and a settings refresh that cannot hold a stop hostage.
@Suite(.serialized) struct HardeningProcessTests {
    func call(_ port: UInt16, _ head: String, body: String = "") throws -> RawResponse {
        let c = try RawClient(port: port)
        try c.send(head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
        return try c.readResponse()
    }

    @Test func localAPI_refusesOtherHostsAndSites_probesAnswerAnyHost() throws {
        let (p, local, _) = try SidecarProcess.listening(["SERVER_URL": "http://127.0.0.1:9/app"])
        defer { p.signal(SIGKILL) }
        let rebound = try call(local, "GET /status HTTP/1.1\r\nHost: rebound.example:\(local)\r\n")
        #expect(rebound.status == 403 && rebound.bodyText.contains("host_not_allowed"))
        let csrf = try call(
            local, "POST /ecv/disable HTTP/1.1\r\nHost: 127.0.0.1:\(local)\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n")
        #expect(csrf.status == 403 && csrf.bodyText.contains("cross_origin"))
        let fanOut = try call(
            local, "GET /cluster/proxy/x HTTP/1.1\r\nHost: 127.0.0.1:\(local)\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n")
        #expect(fanOut.status == 403)
        #expect(try call(local, "GET /ecv HTTP/1.1\r\nHost: localhost\r\n").status == 200, "still in rotation: nothing was switched")
        for probe in ["/healthz", "/readyz", "/ecv"] {
            #expect(try call(local, "GET \(probe) HTTP/1.1\r\nHost: pod-ip.example:8461\r\n").status != 403, "\(probe)")
        }
        // The status page itself, and its same-origin calls.
        #expect(try call(local, "GET /ui HTTP/1.1\r\nHost: 127.0.0.1:\(local)\r\n").status == 200)
        // The root points a browser at it; another site's Host gets nothing.
        let root = try call(local, "GET / HTTP/1.1\r\nHost: 127.0.0.1:\(local)\r\n")
        #expect(
            root.status == 302 && root.reason == "Found" && root.field("Location") == "/ui"
                && root.bodyText.contains(#""status":"/status""#))
        #expect(try call(local, "GET / HTTP/1.1\r\nHost: rebound.example\r\n").status == 403)
        let sameOrigin = try call(
            local,
            "POST /ecv/disable HTTP/1.1\r\nHost: 127.0.0.1:\(local)\r\nOrigin: http://127.0.0.1:\(local)\r\nSec-Fetch-Site: same-origin\r\n"
        )
        #expect(sameOrigin.status == 200)
    }

    @Test func registry_servesOneClient_andCannotStartWithout() throws {
        let missing = try SidecarProcess.run(["registry", "--port", "0", "--secret", SidecarProcess.testSecret])
        #expect(missing.status == 64 && missing.err.contains("REGISTRY_CLIENT_ID"))
        let (registry, port) = try SidecarProcess.registry()
        defer { registry.signal(SIGKILL) }
        func token(_ form: String) throws -> RawResponse {
            try call(
                port, "POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n", body: form)
        }
        for form in [
            "grant_type=client_credentials&client_id=other&client_secret=test-secret",
            "grant_type=client_credentials&client_id=test&client_secret=test-secre",
            "grant_type=client_credentials&client_id=test&client_secret=test-secretx",
            "grant_type=client_credentials&client_id=&client_secret=",
        ] {
            #expect(try token(form).status == 401, "\(form)")
        }
        let plain = try token("grant_type=client_credentials&client_id=test&client_secret=test-secret")
        let cluster = try token("grant_type=client_credentials&client_id=test&client_secret=test-secret&cluster=true")
        #expect(plain.status == 200 && cluster.status == 200)
        func claims(_ r: RawResponse) -> [String: Any] {
            let object = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
            let jwt = (object?["access_token"] as? String) ?? ""
            var payload = String(jwt.split(separator: ".").dropFirst().first ?? "").replacingOccurrences(of: "-", with: "+")
                .replacingOccurrences(of: "_", with: "/")
            while payload.count % 4 != 0 { payload += "=" }
            return (Data(base64Encoded: payload).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]) ?? [:]
        }
        #expect(claims(plain)["cluster"] == nil, "a cluster token only when asked")
        #expect(claims(cluster)["cluster"] as? Bool == true)
    }

    @Test func workers_getNoCredentialsButTheLocalToken_atTheSidecarsPriority() throws {
        let out = NSTemporaryDirectory() + "cs-env-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { for suffix in [".env", ".nice"] { unlink(out + suffix) } }
        let script =
            "env > \(out).env.tmp; mv \(out).env.tmp \(out).env; read a b c d e f g h i j k l m n o p q r nice rest < /proc/self/stat; echo $nice > \(out).nice.tmp; mv \(out).nice.tmp \(out).nice; exec sleep 30"
        let p = try SidecarProcess(
            environment: [
                "LOCAL_PORT": "0", "CLUSTER_PORT": "0", "CLUSTER_ADDRESS": "127.0.0.1", "APP_ADDRESS": "127.0.0.1", "APP_PORT": "0",
                "APP_WORKERS": "1",
                "APP_READY": "0.2", "JWT_SECRET": SidecarProcess.testSecret, "OAUTH_CLIENT_SECRET": "oauth-secret",
                "MIT_TOKEN": "mit-token",
                "LOCAL_API_TOKEN": "local-token", "UNRELATED": "kept",
            ],
            arguments: ["run", "--", "sh", "-c", script])
        defer { p.signal(SIGKILL) }
        #expect(eventually(10) { FileManager.default.fileExists(atPath: out + ".nice") })
        let env = (try? String(contentsOfFile: out + ".env", encoding: .utf8)) ?? ""
        for withheld in ["JWT_SECRET=", "OAUTH_CLIENT_SECRET=", "MIT_TOKEN="] { #expect(!env.contains(withheld), "\(withheld)") }
        #expect(env.contains("LOCAL_API_TOKEN=local-token") && env.contains("UNRELATED=kept") && env.contains("APP_WORKER_ID=0"))
        let stat = (try? String(contentsOfFile: "/proc/\(p.process.processIdentifier)/stat", encoding: .utf8)) ?? ""
        let sidecarNice = stat.split(separator: ")").last?.split(separator: " ").dropFirst(16).first.map(String.init)
        let workerNice = (try? String(contentsOfFile: out + ".nice", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            workerNice != nil && workerNice == sidecarNice, "worker nice \(workerNice ?? "-") against the sidecar's \(sidecarNice ?? "-")")
    }

    @Test func status_escapesHostileIdsAndTexts() throws {
        let (p, local, cluster) = try SidecarProcess.listening([
            "SERVER_URL": "http://127.0.0.1:9/app", "SERVER_TYPE": "echo", "JWT_SECRET": SidecarProcess.testSecret,
        ])
        defer { p.signal(SIGKILL) }
        let token = JWTVerifierTests.signed(
            header: #"{"alg":"HS256","typ":"JWT"}"#, payload: #"{"exp":\#(Int(Date().timeIntervalSince1970) + 300),"cluster":true}"#)
        let hostile = #"{"id":"\u001b]0;owned\u0007\u001b[2J\nforged row","type":"echo","url":"http://a","clusterUrl":"http://b"}"#
        let pushed = try call(
            cluster, "POST /itResources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n",
            body: hostile)
        #expect(pushed.status == 201)
        let shown = try SidecarProcess.run(["status"], environment: ["LOCAL_PORT": "\(local)"])
        #expect(shown.status == 0)
        #expect(!shown.out.contains("\u{1B}") && !shown.out.contains("\u{07}"), "no raw escape reaches the terminal")
        #expect(shown.out.contains(#"\x1B]0;owned\x07\x1B[2J\x0Aforged row"#))
        #expect(!shown.out.split(separator: "\n").contains { $0.hasPrefix("forged row") }, "no forged row")
    }

    /// A FIFO put in a secret's place held the old refresh forever, and every signal behind it.
    @Test func aRefreshOnAFIFO_isRefused_andTheStopStillWorks() throws {
        let dir = NSTemporaryDirectory() + "cs-fifo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let secretFile = dir + "/jwt"
        try SidecarProcess.testSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        let (p, _, _) = try SidecarProcess.listening(["JWT_SECRET_FILE": secretFile])
        unlink(secretFile)
        #expect(mkfifo(secretFile, 0o600) == 0)
        p.signal(SIGHUP)
        #expect(p.waitForLine(containing: "is not a regular file", timeout: 5) != nil, "the refresh refuses the FIFO at once")
        p.signal(SIGTERM)
        #expect(p.waitForExit(timeout: 10) == 0)
    }
}
