import Foundation
import SidecarTestSupport
import Testing

@testable import SidecarCluster

/// SIGHUP through the built binary: secrets from files swapped without dropping a connection.
@Suite struct SettingsRefreshTests {
    static func hs256(_ secret: String) async throws -> String {
        try await JWTVerifierTests.hs256(JWTVerifierTests.claims(exp: Date().timeIntervalSince1970 + 600), secret: secret)
    }

    static func call(_ client: RawClient, _ request: String) throws -> Int {
        try client.send(request)
        return try client.readResponse().status
    }

    @Test func sighup_swapsTokenAndKeys_keepsConnections_andABadReloadChangesNothing() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenFile = dir.appendingPathComponent("token").path
        let secretFile = dir.appendingPathComponent("secret").path
        let levelFile = dir.appendingPathComponent("level").path
        let (oldSecret, newSecret) = (String(repeating: "a", count: 32), String(repeating: "b", count: 40))
        let tokens = [oldSecret: try await Self.hs256(oldSecret), newSecret: try await Self.hs256(newSecret)]
        try "old-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try oldSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        try "info".write(toFile: levelFile, atomically: true, encoding: .utf8)
        let (p, local, cluster) = try SidecarProcess.listening([
            "LOCAL_API_TOKEN_FILE": tokenFile, "JWT_SECRET_FILE": secretFile, "LOG_LEVEL_FILE": levelFile,
        ])
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit()
        }
        let localClient = try RawClient(port: local)
        let clusterClient = try RawClient(port: cluster)
        func status(_ token: String) throws -> Int {
            try Self.call(localClient, "GET /status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\n\r\n")
        }
        // An unknown server: 404 once the token passes, 401 when it does not.
        func delete(_ secret: String) throws -> Int {
            try Self.call(
                clusterClient, "DELETE /servers/nobody HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(tokens[secret]!)\r\n\r\n")
        }
        #expect(try status("old-token") == 200)
        #expect(try delete(oldSecret) == 404)

        try "new-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try newSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        try "debug".write(toFile: levelFile, atomically: true, encoding: .utf8)
        p.signal(SIGHUP)
        let reloaded = p.waitForLine(containing: #""message":"reloaded""#)
        #expect(reloaded?.contains(#""changed":["jwt_keys","local_api_token","log_level"]"#) == true)
        // The same connections, now under the new values.
        #expect(try status("old-token") == 401)
        #expect(try status("new-token") == 200)
        #expect(try delete(oldSecret) == 401)
        #expect(try delete(newSecret) == 404)

        try "short".write(toFile: secretFile, atomically: true, encoding: .utf8)
        try "newer-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        p.signal(SIGHUP)
        let failed = p.waitForLine(containing: #""message":"reload failed: nothing changed""#)
        #expect(failed?.contains("JWT_SECRET") == true && failed?.contains("32 bytes") == true)
        #expect(try status("new-token") == 200)
        #expect(try status("newer-token") == 401)
        #expect(try delete(newSecret) == 404)
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
    }

    static func status(_ port: UInt16) throws -> [String: Any] {
        let client = try RawClient(port: port)
        try client.send("GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return try JSONSerialization.jsonObject(with: Data(try client.readResponse().body)) as! [String: Any]
    }

    @Test func sighup_newRegistryCredentials_areUsedForTheNextCall_withoutLeavingTheCluster() throws {
        let (registry, port) = try SidecarProcess.registry(clientSecret: "right-secret")
        defer {
            registry.signal(SIGTERM)
            _ = registry.waitForExit()
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let secretFile = dir.appendingPathComponent("oauth").path
        try "right-secret".write(toFile: secretFile, atomically: true, encoding: .utf8)
        var env = SidecarProcess.memberEnvironment(registry: port)
        env["OAUTH_CLIENT_SECRET"] = nil
        env["OAUTH_CLIENT_SECRET_FILE"] = secretFile
        let (p, local, _) = try SidecarProcess.listening(env)
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit()
        }
        func registration() -> (status: String, id: String?, ok: Int, failed: Int) {
            guard let s = try? Self.status(local), let r = s["registration"] as? [String: Any], let l = s["leaseRenewals"] as? [String: Any]
            else {
                return ("?", nil, 0, 0)
            }
            return (r["status"] as? String ?? "?", r["serverId"] as? String, l["ok"] as? Int ?? 0, l["failed"] as? Int ?? 0)
        }
        #expect(eventually(10) { registration().status == "registered" && registration().ok >= 1 })
        let id = registration().id

        try "wrong-secret".write(toFile: secretFile, atomically: true, encoding: .utf8)
        p.signal(SIGHUP)
        #expect(p.waitForLine(containing: #""message":"reloaded""#)?.contains("registry_credentials") == true)
        // The cached token is dropped: the next lease fetches one with the new (wrong) secret.
        #expect(eventually(10) { registration().failed >= 1 })
        #expect(registration().status == "registered" && registration().id == id)

        try "right-secret".write(toFile: secretFile, atomically: true, encoding: .utf8)
        p.signal(SIGHUP)
        #expect(p.waitForLine(containing: #""message":"reloaded""#) != nil)
        let okBefore = registration().ok
        #expect(eventually(10) { registration().ok > okBefore })
        #expect(registration().status == "registered" && registration().id == id)
    }
}
