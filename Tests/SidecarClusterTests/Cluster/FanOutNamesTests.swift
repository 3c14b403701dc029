import Foundation
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarPosix
@testable import SidecarSettings

/// Nodes registered by host name go through our own client, resolved off the loop; a name
/// that does not resolve is the failure code `dns`.
@Suite(.serialized) struct FanOutNamesTests {
    let base = FanOutTests()

    /// A fan-out's names: `peer-N.test` resolve to 127.0.0.1, others fail (resolutions counted).
    func names(counting resolutions: Counter) -> NameCache {
        NameCache(ttl: .seconds(30)) { name in
            resolutions.add()
            return name.hasPrefix("peer-")
                ? .success([SocketAddress(host: "127.0.0.1", port: 0)!]) : .failure(.init(message: "no such name"))
        }
    }

    @Test func namedNodes_answerThroughOurClient_withTheirNameAsHost_resolvedOncePerTTL() throws {
        let peers = try Peers(2)
        var servers = peers.servers().enumerated().map { k, s in
            ServerInfo(
                id: s.id, type: "t", url: s.url.replacingOccurrences(of: "127.0.0.1", with: "peer-\(k).test"), clusterUrl: s.clusterUrl)
        }
        servers.append(ServerInfo(id: "nowhere", type: "t", url: "http://nowhere.test:1", clusterUrl: "http://127.0.0.1:1"))
        let resolutions = Counter()
        let sidecar = try base.sidecar(
            servers, me: ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"),
            names: names(counting: resolutions))
        for _ in 0..<3 {
            let (status, answer) = try base.fanout(sidecar, #"{"url":"/headers"}"#)
            #expect(status == 200)
            #expect(base.ids(answer["results"]) == ["n0", "n1"])
            let hosts = (answer["data"] as? [[String: String]])?.map { $0["host"] ?? "?" }
            #expect(hosts == ["peer-0.test:\(peers.ports[0])", "peer-1.test:\(peers.ports[1])"])
            #expect(base.ids(answer["failures"]) == ["nowhere"])
            #expect(base.codes(answer) == ["dns"])
        }
        #expect(resolutions.value == 3, "each name once, for three fan-outs")
    }
}
