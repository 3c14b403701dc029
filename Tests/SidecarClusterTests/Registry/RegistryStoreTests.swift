import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarSettings

@Suite struct RegistryStoreTests {
    @Test func registration_createsThenUpdates_andTellsPeersOfAJoinOnly() {
        var s = RegistryStore(leaseTime: .seconds(10))
        var n = 0
        func id() -> String {
            n += 1
            return "s\(n)"
        }
        let a = s.register(
            NewServer(id: nil, type: "t", url: "http://a", clusterUrl: "http://a:1", cluster: true, metadata: nil), now: at(0), wall: "",
            makeID: id)
        #expect(a.created && a.server.id == "s1" && a.peersToTell.isEmpty)
        let b = s.register(
            NewServer(id: nil, type: "t", url: "http://b", clusterUrl: "http://b:1", cluster: true, metadata: nil), now: at(0), wall: "",
            makeID: id)
        #expect(b.members.map(\.id) == ["s1", "s2"])
        #expect(b.peersToTell.map(\.id) == ["s1"])
        let again = s.register(
            NewServer(id: "s1", type: "t", url: "http://a2", clusterUrl: "http://a:1", cluster: true, metadata: nil), now: at(1), wall: "",
            makeID: id)
        #expect(!again.created && again.peersToTell.isEmpty)
        #expect(s.list(type: "t").map(\.url) == ["http://a2", "http://b"])
        #expect(s.list(type: "other").isEmpty)
    }

    @Test func threeMissedLeases_drop_andNameThePeers() {
        var s = RegistryStore(leaseTime: .seconds(10))
        _ = s.register(
            NewServer(id: "a", type: "t", url: "http://a", clusterUrl: "http://a:1", cluster: true, metadata: nil), now: at(0), wall: "",
            makeID: { "x" })
        _ = s.register(
            NewServer(id: "b", type: "t", url: "http://b", clusterUrl: "http://b:1", cluster: true, metadata: nil), now: at(0), wall: "",
            makeID: { "x" })
        let renewed = s.lease(id: "b", now: at(25))
        #expect(renewed)
        let early = s.expire(now: at(30))
        #expect(early.isEmpty)
        let gone = s.expire(now: at(30.1))
        #expect(gone.map(\.server.id) == ["a"])
        #expect(gone.first?.peers.map(\.id) == ["b"])
        let dropped = s.lease(id: "a", now: at(31))
        #expect(!dropped)
        let none = s.remove(id: "nope")
        #expect(none == nil)
    }
}
