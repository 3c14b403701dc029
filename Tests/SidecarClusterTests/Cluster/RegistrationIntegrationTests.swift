import Foundation
import SidecarTestSupport
import Testing

/// The built binary against the embedded registry, both as real processes on port 0.
@Suite struct RegistrationIntegrationTests {
    /// GET `path` on `port` and decode a JSON object.
    func json(_ port: UInt16, _ path: String, method: String = "GET", token: String? = nil) throws -> [String: Any] {
        let client = try RawClient(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        try client.send(head + "\r\n")
        let r = try client.readResponse()
        return try (JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]) ?? [:]
    }

    func status(_ port: UInt16) throws -> [String: Any] { try json(port, "/status") }

    func registryToken(_ port: UInt16) throws -> String {
        let client = try RawClient(port: port)
        let form = "grant_type=client_credentials&client_id=test&client_secret=test-secret"
        try client.send(
            "POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
        )
        let body = try JSONSerialization.jsonObject(with: Data(client.readResponse().body)) as? [String: Any]
        return try #require(body?["access_token"] as? String)
    }

    func registered(_ port: UInt16) -> Bool { (try? status(port)["REGISTRATION_STATUS"] as? String) == "registered" }

    @Test func registers_renews_andReportsStatus() throws {
        let (registry, rport) = try SidecarProcess.registry(leaseTime: 0.5)
        let (sidecar, local, _) = try SidecarProcess.listening(SidecarProcess.memberEnvironment(registry: rport))
        #expect(eventually(5) { registered(local) })
        #expect(eventually(5) { (try? status(local)["registration"] as? [String: Any])?["lastLeasedAt"] is String })
        let s = try status(local)
        #expect(s["CLUSTER_STATUS_SERVERS"] as? Int == 1)
        #expect(s["CLUSTER_STATUS_LEASE_TIME"] as? Double == 0.5)
        #expect((s["CLUSTER_STATUS_UPDATED_AT"] as? String)?.hasSuffix("Z") == true)
        let health = s["health"] as? [String: Any]
        #expect(health?["ready"] as? Bool == true)
        sidecar.signal(SIGTERM)
        #expect(sidecar.waitForExit() == 0)
        registry.signal(SIGTERM)
        _ = registry.waitForExit()
    }

    @Test func registryOutage_andAmnesia_registeredAgainWithinTheRetryPeriod_keepingTheID() throws {
        let (registry, rport) = try SidecarProcess.registry(leaseTime: 0.3)
        let (sidecar, local, _) = try SidecarProcess.listening(SidecarProcess.memberEnvironment(registry: rport))
        #expect(eventually(5) { registered(local) })
        let id = try #require((try status(local)["registration"] as? [String: Any])?["serverId"] as? String)
        registry.signal(SIGKILL)
        _ = registry.waitForExit()
        // Several lease attempts fail meanwhile (the timing itself is RegistrarTests' to check).
        #expect(eventually(5) { ((try? status(local)["registration"] as? [String: Any])?["consecutiveFailures"] as? Int ?? 0) >= 2 })
        #expect(registered(local), "the cluster view and registration are kept through an outage")
        let (back, _) = try SidecarProcess.registry(leaseTime: 0.3, port: rport)
        let returned = Date()
        let token = try registryToken(rport)
        #expect(
            eventually(3) {
                ((try? json(rport, "/servers", token: token)["servers"] as? [[String: Any]]) ?? []).contains { $0["id"] as? String == id }
            })
        // REGISTRATION_RETRY is 0.5 s: back within it, plus a lease interval to notice the 404.
        #expect(Date().timeIntervalSince(returned) < 1.5)
        sidecar.signal(SIGTERM)
        #expect(sidecar.waitForExit() == 0)
        // unregistered on SIGTERM
        #expect(((try? json(rport, "/servers", token: token)["servers"] as? [[String: Any]]) ?? [["x": 1]]).isEmpty)
        back.signal(SIGTERM)
        _ = back.waitForExit()
    }

    @Test func registryDownAtStart_registersOnceItComes() throws {
        let (probe, rport) = try SidecarProcess.registry()
        probe.signal(SIGKILL)
        _ = probe.waitForExit()
        let (sidecar, local, _) = try SidecarProcess.listening(SidecarProcess.memberEnvironment(registry: rport))
        #expect(eventually(5) { ((try? status(local)["registration"] as? [String: Any])?["consecutiveFailures"] as? Int ?? 0) >= 1 })
        let s = try status(local)
        #expect(s["REGISTRATION_STATUS"] as? String == "registering")
        #expect((try json(local, "/readyz"))["error"] != nil)
        let (registry, _) = try SidecarProcess.registry(port: rport)
        #expect(eventually(2) { registered(local) })
        sidecar.signal(SIGTERM)
        #expect(sidecar.waitForExit() == 0)
        registry.signal(SIGTERM)
        _ = registry.waitForExit()
    }

    @Test func registerAndUnregisterEndpoints_reportMembership() throws {
        let (registry, rport) = try SidecarProcess.registry(leaseTime: 5)
        let (sidecar, local, _) = try SidecarProcess.listening(SidecarProcess.memberEnvironment(registry: rport))
        #expect(eventually(5) { registered(local) })
        let out = try json(local, "/unregister", method: "POST")
        #expect(out["nbServers"] as? Int == 1)
        #expect(out["serverId"] is String)
        #expect(try status(local)["REGISTRATION_STATUS"] as? String == "unregistered")
        let back = try json(local, "/register", method: "POST")
        #expect(back["serverId"] as? String == out["serverId"] as? String)
        #expect(try status(local)["REGISTRATION_STATUS"] as? String == "registered")
        sidecar.signal(SIGTERM)
        #expect(sidecar.waitForExit() == 0)
        registry.signal(SIGTERM)
        _ = registry.waitForExit()
    }

    @Test func twoSidecarsStartingTogether_seeEachOther_afterTheConcurrentRegistration() throws {
        let (registry, rport) = try SidecarProcess.registry(leaseTime: 5)
        let (a, localA, _) = try SidecarProcess.listening(SidecarProcess.memberEnvironment(registry: rport))
        let (b, localB, _) = try SidecarProcess.listening(SidecarProcess.memberEnvironment(registry: rport))
        #expect(eventually(5) { (try? status(localA)["CLUSTER_STATUS_SERVERS"] as? Int) == 2 })
        #expect(eventually(5) { (try? status(localB)["CLUSTER_STATUS_SERVERS"] as? Int) == 2 })
        for p in [a, b] {
            p.signal(SIGTERM)
            #expect(p.waitForExit() == 0)
        }
        registry.signal(SIGTERM)
        _ = registry.waitForExit()
    }

    @Test func withoutRegistry_membershipEndpointsSaySo() throws {
        let (sidecar, local, _) = try SidecarProcess.listening(["SERVER_URL": "http://127.0.0.1:9/app"])
        let s = try status(local)
        #expect(s["REGISTRATION_STATUS"] as? String == "disabled")
        #expect(s["CLUSTER_STATUS_SERVERS"] as? Int == 1)
        #expect((try json(local, "/register", method: "POST")["error"] as? [String: Any])?["code"] as? String == "no_registry")
        sidecar.signal(SIGTERM)
        #expect(sidecar.waitForExit() == 0)
    }
}

@Suite struct DemoTests {
    @Test func demo_showsEachSidecarRegistering_thenTheFanOut_whatToTry_andStopsCleanly() throws {
        let p = try SidecarProcess(arguments: ["demo", "--duration", "6"])
        #expect(p.waitForExit(timeout: 30) == 0)
        let out = String(decoding: (p.process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = out.split(separator: "\n").map(String.init)
        // Into a pipe: one line per change of each sidecar, in the order they happen.
        for k in 1...3 {
            let mine = lines.filter { $0.hasPrefix("sidecar\(k) ") }
            #expect(mine.first?.hasSuffix("starting") == true, "\(out)")
            #expect(mine.contains { $0.contains("registered as echo-\(k)-") && $0.contains("sees 3 of 3, ready yes, workers 2/2 gen 1") })
        }
        let registered = try #require(lines.firstIndex { $0.hasPrefix("sidecar1 ") && $0.contains("registered as") })
        let third = try #require(lines.firstIndex { $0.hasPrefix("sidecar3 ") })
        #expect(registered < third, "the first registers before the third starts")
        // The fan-out once all see all, then what to try against the first one.
        let fanOut = try #require(lines.firstIndex { $0.hasPrefix("fan-out through") })
        #expect(out.contains("3 nodes answered"))
        for node in 1...3 { #expect(out.contains(#""hello":"demo","node":\#(node),"pid":"#), "\(out)") }
        let port = lines.first { $0.hasPrefix("sidecar1 ") }?.split(separator: " ", omittingEmptySubsequences: true)[1] ?? ""
        #expect(lines[fanOut...].contains { $0.contains("curl -s -d '{\"url\":\"/hello/you\"}' http://\(port)/cluster/fanout") }, "\(out)")
        #expect(lines[fanOut...].contains { $0.contains("cluster-sidecar status") })
        #expect(out.components(separatedBy: ": exit 0").count - 1 == 3)
        #expect(lines.last == "done")
    }
}

/// Two real sidecars and the registry: joins and leaves reach the peers through the
/// announcements (and the registry's notices) long before any concurrent registration.
@Suite struct MembershipIntegrationTests {
    func servers(_ port: UInt16) -> Int { (try? RegistrationIntegrationTests().status(port)["CLUSTER_STATUS_SERVERS"] as? Int) ?? -1 }

    @Test func twoSidecars_learnOfEachOthersJoinAndLeave() throws {
        let (registry, rport) = try SidecarProcess.registry(leaseTime: 30)
        let env = SidecarProcess.memberEnvironment(registry: rport, extra: ["REGISTRATION_CONCURRENT_DELAY": "600"])
        let (a, localA, _) = try SidecarProcess.listening(env)
        #expect(eventually(5) { servers(localA) == 1 })
        let (b, localB, _) = try SidecarProcess.listening(env)
        #expect(eventually(3) { servers(localB) == 2 }, "B learns of A from its registration answer")
        #expect(eventually(3) { servers(localA) == 2 }, "A learns of B from B's announcement")
        b.signal(SIGTERM)
        #expect(b.waitForExit() == 0)
        #expect(eventually(3) { servers(localA) == 1 }, "A learns of B's leave")
        a.signal(SIGTERM)
        #expect(a.waitForExit() == 0)
        registry.signal(SIGTERM)
        _ = registry.waitForExit()
    }

    @Test func fanOut_throughARealSidecar_reachesEveryApplication() throws {
        let peers = try Peers(2)
        let (registry, rport) = try SidecarProcess.registry(leaseTime: 30)
        let (a, localA, _) = try SidecarProcess.listening(
            SidecarProcess.memberEnvironment(registry: rport, extra: ["SERVER_URL": "http://127.0.0.1:\(peers.ports[0])"]))
        let (b, _, _) = try SidecarProcess.listening(
            SidecarProcess.memberEnvironment(registry: rport, extra: ["SERVER_URL": "http://127.0.0.1:\(peers.ports[1])"]))
        #expect(eventually(5) { servers(localA) == 2 })
        let client = try RawClient(port: localA)
        let body = #"{"url":"/ok"}"#
        try client.send("POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let answer = try JSONSerialization.jsonObject(with: Data(client.readResponse().body)) as? [String: Any]
        #expect((answer?["data"] as? [[String: Int]])?.compactMap { $0["node"] }.sorted() == [0, 1])
        for p in [a, b] {
            p.signal(SIGTERM)
            #expect(p.waitForExit() == 0)
        }
        registry.signal(SIGTERM)
        _ = registry.waitForExit()
    }
}
