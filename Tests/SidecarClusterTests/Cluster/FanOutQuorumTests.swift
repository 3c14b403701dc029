import Foundation
import Glibc
import SidecarTestSupport
import Testing

@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix

/// `quorum` and `deadline`: a fan-out that answers once enough nodes agreed, or once its time
/// is up, without waiting for the slow node.
@Suite(.serialized) struct FanOutQuorumTests {
    let base = FanOutTests()

    /// A node that answers after `seconds` (a slow pod).
    func slowNode(_ seconds: Double) throws -> StubServer {
        try StubServer { fd in
            StubServer.readHead(fd)
            usleep(UInt32(seconds * 1_000_000))
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        }
    }

    /// A sidecar whose view holds `peers` answering at once and, after them, `extra`.
    func sidecar(_ peers: Peers, _ extra: [(String, String)]) throws -> TestServer {
        var servers = peers.servers()
        for (id, url) in extra { servers.append(ServerInfo(id: id, type: "t", url: url, clusterUrl: "http://127.0.0.1:1")) }
        return try base.sidecar(servers)
    }

    func timed<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
        let start = SystemClock().now
        let value = try body()
        return (value, SystemClock().now - start)
    }

    @Test func aQuorum_answersOnceEnoughNodesAnswered_andCancelsTheSlowOne() throws {
        let peers = try Peers(3)
        let slow = try slowNode(2)
        let sidecar = try sidecar(peers, [("slow", "http://127.0.0.1:\(slow.port)")])
        let ((status, answer), took) = try timed { try base.fanout(sidecar, #"{"url":"/ok","quorum":3}"#) }
        #expect(status == 200)
        #expect(base.ids(answer["results"]) == ["n0", "n1", "n2"])
        #expect(base.ids(answer["failures"]) == ["slow"])
        #expect(base.codes(answer) == ["cancelled"])
        #expect(took < .milliseconds(500), "the answer does not wait for the slow node: \(took)")
    }

    @Test func aQuorumOutOfReach_answersAtOnce() throws {
        let peers = try Peers(1)
        let slow = try slowNode(2)
        let sidecar = try sidecar(peers, [("refused", "http://127.0.0.1:1"), ("slow", "http://127.0.0.1:\(slow.port)")])
        // Three nodes, one refusing: three 2xx answers are out of reach once it fails (n0 may
        // have answered by then, or be cancelled).
        let ((_, answer), took) = try timed { try base.fanout(sidecar, #"{"url":"/ok","quorum":3}"#) }
        let failures = Dictionary(uniqueKeysWithValues: zip(base.ids(answer["failures"]), base.codes(answer)))
        #expect(failures["refused"] == "connect")
        #expect(failures["slow"] == "cancelled")
        #expect(took < .milliseconds(500), "\(took)")
        // More nodes than the cluster has: nothing is sent.
        let (_, none) = try base.fanout(sidecar, #"{"url":"/ok","quorum":4}"#)
        #expect(base.codes(none) == ["cancelled", "ejected", "cancelled"], "the refusing node was ejected meanwhile")
    }

    @Test func aDeadline_boundsTheWholeFanOut_andTheLateNodeTimesOut() throws {
        let peers = try Peers(2)
        let slow = try slowNode(2)
        let sidecar = try sidecar(peers, [("slow", "http://127.0.0.1:\(slow.port)")])
        let ((_, answer), took) = try timed { try base.fanout(sidecar, #"{"url":"/ok","deadline":200,"retries":2}"#) }
        #expect(base.ids(answer["results"]) == ["n0", "n1"])
        #expect(base.codes(answer) == ["timeout"])
        #expect(took >= .milliseconds(200) && took < .milliseconds(700), "\(took)")
    }

    @Test func theProxyForm_takesQuorumAndDeadlineFields() throws {
        let peers = try Peers(2)
        let slow = try slowNode(2)
        let sidecar = try sidecar(peers, [("slow", "http://127.0.0.1:\(slow.port)")])
        let client = try sidecar.client(timeout: 5)
        let ((), took) = try timed {
            try client.send("GET /cluster/proxy/ok HTTP/1.1\r\nHost: localhost\r\nX-Fanout-Quorum: 1\r\nX-Fanout-Deadline: 1000\r\n\r\n")
        }
        let r = try client.readResponse()
        let answer = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] ?? [:]
        #expect(base.codes(answer).contains("cancelled"))
        #expect(took < .milliseconds(500))
    }

    @Test(arguments: [
        #"{"url":"/ok","quorum":0}"#, #"{"url":"/ok","quorum":1.5}"#, #"{"url":"/ok","quorum":"2"}"#, #"{"url":"/ok","deadline":0}"#,
        #"{"url":"/ok","deadline":300001}"#, #"{"url":"/ok","deadline":"1s"}"#, #"{"url":"/ok","quorum":null}"#,
        #"{"url":"/ok","deadline":null}"#,
    ])
    func badQuorumOrDeadline_is400(_ body: String) throws {
        let peers = try Peers(1)
        let sidecar = try base.sidecar(peers.servers())
        let (status, answer) = try base.fanout(sidecar, body)
        #expect(status == 400)
        #expect(
            ((answer["error"] as? [String: Any])?["message"] as? String)?.contains(body.contains("quorum") ? "quorum" : "deadline") == true)
        #expect(peers.total == 0)
    }

    @Test(arguments: ["X-Fanout-Quorum: 0", "X-Fanout-Quorum: 1.0", "X-Fanout-Deadline: 0", "X-Fanout-Deadline: 1e3"])
    func badProxyFields_are400(_ field: String) throws {
        let peers = try Peers(1)
        let sidecar = try base.sidecar(peers.servers())
        let client = try sidecar.client()
        try client.send("GET /cluster/proxy/ok HTTP/1.1\r\nHost: localhost\r\n\(field)\r\n\r\n")
        #expect(try client.readResponse().status == 400, "\(field)")
        #expect(peers.total == 0)
    }
}
