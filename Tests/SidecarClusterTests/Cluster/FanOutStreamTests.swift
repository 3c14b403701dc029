import Foundation
import Glibc
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix

/// `Accept: application/x-ndjson`: the fan-out's answer starts at once and carries one line per
/// node as it finishes, then the counts; paced by a slow reader; stopped when the reader goes.
@Suite(.serialized) struct FanOutStreamTests {
    let base = FanOutTests()
    let quorum = FanOutQuorumTests()

    /// Sends a streamed fan-out of `body` and reads its head.
    func open(_ sidecar: TestServer, _ body: String, timeout: Double = 10) throws -> (RawClient, RawResponse) {
        let client = try sidecar.client(timeout: timeout)
        try client.send(
            "POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nAccept: application/x-ndjson\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return (client, try client.readHead())
    }

    /// Every line left, parsed.
    func lines(_ client: RawClient) throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        while let line = try client.readBodyLine() { all.append(try parse(line)) }
        return all
    }

    func parse(_ line: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
    }

    func server(_ line: [String: Any]) -> String { ((line["server"] as? [String: Any])?["id"] as? String) ?? "?" }
    func code(_ line: [String: Any]) -> String? { (line["error"] as? [String: Any])?["code"] as? String }

    @Test func eachNodesLine_comesAsItFinishes_thenTheCounts() throws {
        let peers = try Peers(2)
        let slow = try quorum.slowNode(0.8)
        let sidecar = try quorum.sidecar(peers, [("slow", "http://127.0.0.1:\(slow.port)")])
        let start = SystemClock().now
        let (client, head) = try open(sidecar, #"{"url":"/ok"}"#)
        #expect(head.status == 200)
        #expect(head.field("Content-Type") == "application/x-ndjson")
        #expect(head.field("Transfer-Encoding") == "chunked")
        let first = try parse(try #require(try client.readBodyLine()))
        let second = try parse(try #require(try client.readBodyLine()))
        let early = SystemClock().now - start
        #expect(Set([server(first), server(second)]) == ["n0", "n1"])
        #expect(early < .milliseconds(500), "the fast nodes' lines do not wait for the slow one: \(early)")
        #expect((first["result"] as? [String: Any])?["status"] as? Int == 200)
        let rest = try lines(client)
        #expect(rest.count == 2)
        #expect(server(rest[0]) == "slow")
        #expect((rest[1]["counts"] as? [String: Int]) == ["nodes": 3, "results": 3, "failures": 0])
        // The connection serves the next request.
        try client.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 200)
    }

    @Test func failuresAndEjectedNodes_haveTheirLines_andCount() throws {
        let peers = try Peers(1)
        let sidecar = try quorum.sidecar(peers, [("refused", "http://127.0.0.1:1")])
        for expected in ["connect", "ejected"] {
            let (client, _) = try open(sidecar, #"{"url":"/ok"}"#)
            let all = try lines(client)
            #expect(all.count == 3)
            #expect(all.compactMap(code) == [expected])
            #expect((all.last?["counts"] as? [String: Int]) == ["nodes": 2, "results": 1, "failures": 1])
        }
    }

    @Test func withRetries_aNodeHasOneLine_itsFinalOne() throws {
        let peers = try Peers(3)
        let sidecar = try base.sidecar(peers.servers())
        let (client, _) = try open(sidecar, #"{"url":"/flaky","retries":2,"includeSelf":true}"#)
        let all = try lines(client)
        let nodes = all.dropLast()
        #expect(nodes.count == 3)
        #expect(Set(nodes.map(server)).count == 3)
        #expect(nodes.allSatisfy { ($0["result"] as? [String: Any])?["status"] as? Int == 200 }, "the first 503s are not written")
    }

    @Test func theProxyForm_streamsWithAQuorum_andKeepsTheSidecarsAcceptFromTheNodes() throws {
        let peers = try Peers(2)
        let slow = try quorum.slowNode(2)
        let sidecar = try quorum.sidecar(peers, [("slow", "http://127.0.0.1:\(slow.port)")])
        let client = try sidecar.client(timeout: 5)
        let start = SystemClock().now
        try client.send(
            "GET /cluster/proxy/headers HTTP/1.1\r\nHost: localhost\r\nAccept: application/x-ndjson\r\nX-Fanout-Quorum: 2\r\n\r\n")
        let h = try client.readHead()
        #expect(h.status == 200, "\(h.status) \(h.fields)")
        let all = try lines(client)
        #expect(SystemClock().now - start < .milliseconds(1500), "the quorum ends it before the slow node")
        let answered = all.compactMap { ($0["result"] as? [String: Any])?["data"] as? [String: String] }
        #expect(answered.count == 2)
        #expect(answered.allSatisfy { $0["accept"] == nil }, "\(answered)")
        #expect(all.compactMap(code) == ["cancelled"])
    }

    @Test func aSlowReader_getsEveryLine() throws {
        let peers = try Peers(24)
        let sidecar = try base.sidecar(peers.servers(), cap: 1 << 20)
        let (client, _) = try open(sidecar, #"{"url":"/big","includeSelf":true}"#)
        // 24 answers of 200 kB are more than the stream lets wait unsent: the fan-out pauses.
        usleep(300_000)
        let all = try lines(client)
        #expect(all.count == 25)
        #expect(
            all.dropLast().allSatisfy { ($0["result"] as? [String: Any])?["data"] as? String == String(repeating: "a", count: 200_000) })
        #expect((all.last?["counts"] as? [String: Int])?["results"] == 24)
    }

    @Test func theReaderGoing_cancelsTheNodesStillRunning() throws {
        let closedEarly = Counter()
        let slow = try StubServer { fd in
            StubServer.readHead(fd)
            // Waits for the answer's reader to go: the sidecar then closes this request.
            var tv = timeval(tv_sec: 3, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var byte: UInt8 = 0
            if recv(fd, &byte, 1, 0) == 0 { closedEarly.add() }
        }
        let peers = try Peers(1)
        let sidecar = try quorum.sidecar(peers, [("slow", "http://127.0.0.1:\(slow.port)")])
        do {
            let (client, _) = try open(sidecar, #"{"url":"/ok"}"#)
            _ = try client.readBodyLine()
        }
        #expect(eventually(2) { closedEarly.value == 1 })
    }
}

/// The fan-out's pacing by its listener, without a server: nothing is sent while the listener's
/// reader is behind, and everything once it caught up.
@Suite struct FanOutPacingTests {
    final class Listener: FanOutListener {
        let behind = Mutex(true)
        let resume = Mutex<(@Sendable () -> Void)?>(nil)
        let seen = Mutex<[Int]>([])
        func begin(_ targets: [ServerInfo]) {}
        func finished(_ index: Int, _ result: Result<ClientResponse, ClientError>) -> Bool {
            seen.withLock { $0.append(index) }
            return true
        }
        var isBehind: Bool { behind.withLock { $0 } }
        var isCancelled: Bool { false }
        func whenWritable(_ resume: @escaping @Sendable () -> Void) { self.resume.withLock { $0 = resume } }
        func onCancel(_ gone: @escaping @Sendable () -> Void) {}
    }

    @Test func nothingIsSentWhileTheReaderIsBehind_andEverythingOnceItCaughtUp() async throws {
        let peers = try Peers(4)
        let loop = try EventLoop()
        loop.start()
        defer { loop.stop() }
        let fanOut = FanOut(settings: .init(concurrency: 2), tokens: nil)
        let listener = Listener()
        let request = try FanOutRequest.parse(body: Array(#"{"url":"/ok"}"#.utf8), defaultTimeout: .seconds(5))
        let done = Counter()
        let kept = Mutex<[Int]>([])
        let servers = peers.servers()
        loop.execute {
            fanOut.start(request, servers: servers, selfID: nil, correlationID: "c", token: nil, on: loop, listener: listener) { result in
                kept.withLock { k in
                    k = result.outcomes.map { if case .answered(let r) = $0 { r.body.count } else { -1 } }
                }
                done.add()
            }
        }
        #expect(eventually(2) { listener.resume.withLock { $0 != nil } }, "the fan-out waits for the reader")
        #expect(peers.total == 0)
        listener.behind.withLock { $0 = false }
        listener.resume.withLock { $0 }?()
        #expect(eventually(3) { done.value == 1 })
        #expect(peers.total == 4)
        #expect(listener.seen.withLock { $0.sorted() } == [0, 1, 2, 3])
        #expect(kept.withLock { $0 } == [0, 0, 0, 0], "answers the listener took are kept by status only")
    }
}

/// A fan-out with no node says why, in the answer (`hint`) and in the log, without changing
/// the answer's shape.
@Suite struct FanOutNoNodeTests {
    let base = FanOutTests()

    @Test func aLoneSidecar_saysWhichSettingsAreMissing() throws {
        let sidecar = try base.sidecar([])
        let (status, answer) = try base.fanout(sidecar, #"{"url":"/x"}"#)
        #expect(status == 200)
        #expect((answer["data"] as? [Any])?.isEmpty == true && (answer["failures"] as? [Any])?.isEmpty == true)
        let hint = try #require(answer["hint"] as? String)
        #expect(hint.contains("MIT_URL") && hint.contains("SERVER_URL"))
        // Streamed: the counts line carries it.
        let client = try sidecar.client()
        let body = #"{"url":"/x"}"#
        try client.send(
            "POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nAccept: application/x-ndjson\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let h = try client.readHead()
        #expect(h.status == 200, "\(h.status) \(h.fields)")
        let line = try #require(try client.readBodyLine())
        #expect(line.contains(#""counts":{"nodes":0,"results":0,"failures":0}"#) && line.contains("MIT_URL"))
    }

    @Test func onlyItself_withoutIncludeSelf_saysSo_andAClusterSaysNothing() throws {
        let me = ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1")
        let sidecar = try base.sidecar([me], me: me)
        let (_, alone) = try base.fanout(sidecar, #"{"url":"/x","includeSelf":false}"#)
        #expect((alone["hint"] as? String)?.contains("includeSelf") == true)
        let (_, with) = try base.fanout(sidecar, #"{"url":"/x"}"#)
        #expect(with["hint"] == nil)
    }
}

@Suite struct StreamedAcceptTests {
    @Test(arguments: [
        ("application/x-ndjson", true, true), ("  Application/X-NDJSON ;\tq=0.5 ", true, true),
        ("application/json, application/x-ndjson", true, false),
        ("application/x-ndjson; q=0", false, true), ("application/json", false, false), ("\t", false, false),
    ])
    func accept_asksForStreaming_whenItNamesNDJSONWithAQAboveZero(_ value: String, _ wanted: Bool, _ only: Bool) {
        #expect(StreamedFanOut.wanted(by: value) == wanted)
        #expect(StreamedFanOut.only(value) == only)
    }
}
