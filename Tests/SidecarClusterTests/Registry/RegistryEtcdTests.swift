import Foundation
import SidecarTestSupport
import Testing

/// The registry on a real etcd (Debian's `etcd-server`, members started on loopback ports):
/// replicas share one registry, one of them pushes, and neither a replica nor an etcd member
/// that dies loses a lease or a push.
@Suite(.serialized) struct RegistryEtcdTests {
    let integration = RegistrationIntegrationTests()

    /// A registry replica on `etcd` (lease time `lease`).
    func replica(_ etcd: EtcdCluster, lease: Double = 2, port: UInt16 = 0, prefix: String = "/test/") throws -> (
        SidecarProcess, port: UInt16
    ) {
        try SidecarProcess.registry(
            leaseTime: lease, port: port, extra: ["--store", "etcd", "--etcd-endpoints", etcd.endpoints, "--etcd-prefix", prefix])
    }

    /// A sidecar registering through the registry URLs of `ports`.
    func sidecar(_ ports: [UInt16]) throws -> (SidecarProcess, local: UInt16) {
        var env = SidecarProcess.memberEnvironment(registry: ports[0], extra: ["REGISTRATION_CONCURRENT_DELAY": "600"])
        env["MIT_URL"] = ports.map { "http://127.0.0.1:\($0)" }.joined(separator: ",")
        env["OAUTH_TOKEN_URL"] = ports.map { "http://127.0.0.1:\($0)/oauth/token" }.joined(separator: ",")
        let (p, local, _) = try SidecarProcess.listening(env)
        return (p, local)
    }

    /// The ids in a sidecar's view.
    func view(_ local: UInt16) -> Set<String> {
        let servers = (try? integration.json(local, "/cluster/servers"))?["servers"] as? [[String: Any]] ?? []
        return Set(servers.compactMap { $0["id"] as? String })
    }

    func serverID(_ local: UInt16) -> String? {
        ((try? integration.status(local))?["registration"] as? [String: Any])?["serverId"] as? String
    }

    func registryStatus(_ port: UInt16) -> [String: Any] {
        guard let token = try? integration.registryToken(port) else { return [:] }
        return (try? integration.json(port, "/status", token: token)) ?? [:]
    }

    /// Registers a server straight at the registry (no sidecar behind it); its status.
    func register(_ port: UInt16, id: String, clusterPort: UInt16 = 9, cluster: Bool = false) throws -> Int {
        let token = try integration.registryToken(port)
        let body =
            #"{"id":"\#(id)","type":"echo","url":"http://127.0.0.1:9/x","clusterUrl":"http://127.0.0.1:\#(clusterPort)","cluster":\#(cluster)}"#
        let client = try RawClient(port: port)
        try client.send(
            "POST /servers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        return try client.readResponse().status
    }

    @Test func replicasShareOneRegistry_onePushes_andItsDeathLosesNoPush() throws {
        let etcd = try EtcdCluster(size: 1)
        let (a, portA) = try replica(etcd)
        let (b, portB) = try replica(etcd)
        // Each starts on a different replica and has the other to move to (MIT_URL lists both).
        let (s1, local1) = try sidecar([portA, portB])
        let (s2, local2) = try sidecar([portB, portA])
        #expect(eventually(10) { view(local1).count == 2 && view(local2).count == 2 }, "each sees the other, through different replicas")
        let leaders = [registryStatus(portA), registryStatus(portB)].map { $0["leader"] as? Bool }
        #expect(leaders.filter { $0 == true }.count == 1 && leaders.filter { $0 == false }.count == 1, "\(leaders)")
        #expect(registryStatus(portA)["store"] as? String == "etcd")

        // A server registered at either replica is pushed to both sidecars.
        #expect(try register(portB, id: "plain-1") == 201)
        #expect(eventually(5) { view(local1).contains("plain-1") && view(local2).contains("plain-1") })

        // The leading replica dies: the other takes over the pushes and misses none.
        let (leader, follower, followerPort) = registryStatus(portA)["leader"] as? Bool == true ? (a, b, portB) : (b, a, portA)
        leader.signal(SIGKILL)
        _ = leader.waitForExit()
        #expect(try register(followerPort, id: "plain-2") == 201)
        #expect(eventually(8) { view(local1).contains("plain-2") && view(local2).contains("plain-2") }, "pushed by the new leader")
        #expect(registryStatus(followerPort)["leader"] as? Bool == true)

        // A sidecar killed outright: its lease runs out in etcd and the expiry is pushed.
        let gone = try #require(serverID(local2))
        s2.signal(SIGKILL)
        _ = s2.waitForExit()
        #expect(eventually(12) { !view(local1).contains(gone) }, "the expiry reaches the peer")
        #expect(serverID(local1) != nil && integration.registered(local1), "the survivor kept its lease throughout")
        s1.signal(SIGTERM)
        #expect(s1.waitForExit() == 0)
        follower.signal(SIGTERM)
        #expect(follower.waitForExit() == 0)
    }

    @Test func aPeerThatNeverAnswers_delaysNoOtherPush() throws {
        let etcd = try EtcdCluster(size: 1)
        let (r, port) = try replica(etcd, lease: 10)
        let (s, local) = try sidecar([port])
        #expect(eventually(10) { view(local).count == 1 })
        // A dead pod still registered: it accepts and never answers (each push to it waits 5 s).
        let silent = try StubServer { fd in
            _ = StubServer.nextHead(fd)
            usleep(8_000_000)
        }
        #expect(try register(port, id: "silent", clusterPort: silent.port, cluster: true) == 201)
        #expect(eventually(5) { view(local).contains("silent") })
        let started = Date()
        for k in 0..<3 { #expect(try register(port, id: "after-\(k)") == 201) }
        #expect(eventually(10) { view(local).isSuperset(of: ["after-0", "after-1", "after-2"]) })
        #expect(Date().timeIntervalSince(started) < 3, "the three joins do not queue behind the silent peer's timeouts")
        s.signal(SIGTERM)
        #expect(s.waitForExit() == 0)
        r.signal(SIGTERM)
        #expect(r.waitForExit() == 0)
    }

    @Test func aRegistryRestart_losesNothing_theIdsAndLeasesLiveInEtcd() throws {
        let etcd = try EtcdCluster(size: 1)
        var (r, port) = try replica(etcd)
        let (s1, local1) = try sidecar([port])
        let (s2, local2) = try sidecar([port])
        #expect(eventually(10) { view(local1).count == 2 && view(local2).count == 2 })
        let ids = [serverID(local1), serverID(local2)]
        r.signal(SIGKILL)
        _ = r.waitForExit()
        (r, _) = try replica(etcd, port: port)
        // Renewals go on against the new process: no 404, so no new registration and no new id.
        Thread.sleep(forTimeInterval: 5)
        #expect([serverID(local1), serverID(local2)] == ids)
        let keys = etcd.keys(prefix: "/test/servers/")
        #expect(keys.count == 2 && ids.allSatisfy { $0.map { keys["/test/servers/\($0)"] != nil } ?? false }, "\(keys.keys)")
        s1.signal(SIGTERM)
        s2.signal(SIGTERM)
        #expect(s1.waitForExit() == 0 && s2.waitForExit() == 0)
        #expect(etcd.keys(prefix: "/test/servers/").isEmpty, "unregistering deletes the keys")
        r.signal(SIGTERM)
        #expect(r.waitForExit() == 0)
    }

    @Test func etcdUnreachable_is503_thenServedAgain() throws {
        let etcd = try EtcdCluster(size: 1)
        let (r, port) = try replica(etcd)
        #expect(try register(port, id: "before") == 201)
        etcd.kill(0)
        let started = Date()
        #expect(try register(port, id: "during") == 503)
        #expect(Date().timeIntervalSince(started) < 6, "the answer comes once the client's patience is spent")
        try etcd.start(0)
        #expect(etcd.waitForLeader(timeout: 20) != nil)
        #expect(eventually(10) { (try? register(port, id: "after")) == 201 })
        #expect(try register(port, id: "before") == 200, "the key written before the outage is still there")
        r.signal(SIGTERM)
        #expect(r.waitForExit() == 0)
    }

    @Test func threeMembers_theLeaderAndTheLeadingReplicaKilled_noLeaseAndNoPushLost() throws {
        let etcd = try EtcdCluster(size: 3)
        let (a, portA) = try replica(etcd, lease: 5)
        let (b, portB) = try replica(etcd, lease: 5)
        var sidecars: [(SidecarProcess, local: UInt16)] = []
        for k in 0..<4 { sidecars.append(try sidecar(k % 2 == 0 ? [portA, portB] : [portB, portA])) }
        #expect(eventually(15) { sidecars.allSatisfy { view($0.local).count == 4 } })
        let ids = sidecars.map { serverID($0.local) }

        // Both faults at once: the etcd leader and the leading replica.
        let etcdLeader = try #require(etcd.leader())
        let (leading, other, otherPort) = registryStatus(portA)["leader"] as? Bool == true ? (a, b, portB) : (b, a, portA)
        etcd.kill(etcdLeader)
        leading.signal(SIGKILL)
        _ = leading.waitForExit()
        // A server that registers during the faults reaches every peer.
        #expect(eventually(10) { (try? register(otherPort, id: "during-faults")) == 201 })
        #expect(eventually(10) { sidecars.allSatisfy { view($0.local).contains("during-faults") } })
        let views = sidecars.map { view($0.local) }
        #expect(Set(views).count == 1, "every view identical: \(views)")
        // No lease lost: nobody had to register again under a new id.
        #expect(sidecars.map { serverID($0.local) } == ids)
        #expect(sidecars.allSatisfy { integration.registered($0.local) })
        for s in sidecars { s.0.signal(SIGTERM) }
        for s in sidecars { #expect(s.0.waitForExit() == 0) }
        other.signal(SIGTERM)
        #expect(other.waitForExit() == 0)
    }
}
