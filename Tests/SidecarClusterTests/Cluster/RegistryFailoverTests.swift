import Foundation
import SidecarTestSupport
import Testing

@testable import SidecarCluster

/// `MIT_URL` and `OAUTH_TOKEN_URL` list several URLs: the sidecar uses one and moves on to the
/// next when it cannot reach it, it times out or answers 5xx, keeping its id and lease.
@Suite struct RegistryFailoverTests {
    func status(_ local: UInt16) -> [String: Any] {
        guard let client = try? RawClient(port: local, timeout: 5) else { return [:] }
        try? client.send("GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        guard let r = try? client.readResponse() else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]) ?? [:]
    }

    @Test func aDeadFirstURL_andA5xxOne_areMovedPast_keepingTheRegistration() throws {
        let (registry, port) = try SidecarProcess.registry(leaseTime: 30)
        _ = registry
        // A registry replica that answers every call with 503.
        let failing = try StubServer { fd in
            while StubServer.nextHead(fd) != nil { StubServer.send(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n") }
        }
        let good = "http://127.0.0.1:\(port)"
        var env = SidecarProcess.memberEnvironment(registry: port)
        env["MIT_URL"] = "http://127.0.0.1:1, http://127.0.0.1:\(failing.port), \(good)"
        env["OAUTH_TOKEN_URL"] = "http://127.0.0.1:1/oauth/token,\(good)/oauth/token"
        let (p, local, _) = try SidecarProcess.listening(env)
        _ = p
        #expect(eventually(10) { status(local)["REGISTRATION_STATUS"] as? String == "registered" })
        let registration = status(local)["registration"] as? [String: Any]
        #expect(registration?["registryUrl"] as? String == good)
        #expect(registration?["registryMoves"] as? Int == 1)
        // The registry the sidecar reached holds it under the id it was given.
        let id = try #require(registration?["serverId"] as? String)
        let client = try RawClient(port: port, timeout: 5)
        try client.send("GET /servers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(try token(port))\r\n\r\n")
        #expect(String(decoding: try client.readResponse().body, as: UTF8.self).contains(#""id":"\#(id)""#))
    }

    func token(_ port: UInt16) throws -> String { try RegistrationIntegrationTests().registryToken(port) }

    @Test func theEndpoints_moveOnlyOnTrouble_andStartFromTheOneInUse() {
        let e = RegistryEndpoints(["a", "b", "c"])
        #expect(e.inTurn().map(\.url) == ["a", "b", "c"])
        #expect(e.settle(on: 1) && !e.settle(on: 1))
        #expect(e.current == "b" && e.moves == 1 && e.inTurn().map(\.url) == ["b", "c", "a"])
        #expect(RegistryEndpoints.movesOn(.connect) && RegistryEndpoints.movesOn(.timeout) && !RegistryEndpoints.movesOn(.tooLarge))
    }
}
