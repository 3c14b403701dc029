import SidecarHTTP
import SidecarPosix
import SidecarTestSupport
import Testing

@testable import SidecarCluster

/// Telling peers we leave: a peer that has stopped listening is not an error; others are.
@Suite struct AnnouncerTests {
    @Test func leave_ignoresPeersThatStoppedListening_reportsOtherFailures() async throws {
        let failing = try TestServer { r in r.on("DELETE", "/servers/{id}") { _ in .error(500, code: "boom", message: "boom") } }
        let gone = try TestServer()
        let gonePort = gone.port
        gone.server.stop()
        // The loops close the listener on their way out: wait until the port refuses.
        #expect(eventually(3) { (try? RawClient(port: gonePort, timeout: 1)) == nil })
        func peer(_ id: String, _ port: UInt16) -> ServerInfo {
            ServerInfo(id: id, type: "t", url: "http://127.0.0.1:9", clusterUrl: "http://127.0.0.1:\(port)")
        }
        let announcer = Announcer(client: TestClients.shared, tokens: nil)
        let me = ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:9", clusterUrl: "http://127.0.0.1:9")
        let failures = await announcer.leave(me, to: [peer("gone", gonePort), peer("failing", failing.port)])
        #expect(failures.map(\.serverId) == ["failing"])
        #expect(failures.first?.code == "http_status")
    }
}
