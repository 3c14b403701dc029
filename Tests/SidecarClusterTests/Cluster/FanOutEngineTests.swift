import Foundation
import Glibc
import Logging
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarServer
@testable import SidecarSettings

@Suite struct FanOutPathTests {
    @Test(arguments: [
        "/", "/a", "/a/", "/a/b.c/d", "/a?x=1&y=/../z", "/a%20b", "/a/%C3%A9", "/~user/@x:1;p=q", "/a?q=%00", "/..a/b..", "/a?",
    ])
    func accepted(path: String) throws {
        try FanOutRequest.checkPath(path)
    }

    @Test(arguments: [
        "", "a", "//x", "http://x/", "/a\\b", "/a/../b", "/..", "/.", "/a/.", "/a/%2e%2e/b", "/a/%2E/b", "/a/%2eb", "/a/%2f", "/a%5c",
        "/a%0a",
        "/a b", "/a\u{7F}", "/é", "/a\"b", "/a<b>", "/a{b}", "/a|b", "/a^b", "/a`b", "/a[0]", "/a%", "/a%2", "/a%zz", "/a#f", "/a//b",
        "/a?b#c",
    ])
    func refused(path: String) {
        #expect(throws: FanOutRequest.Invalid.self) { try FanOutRequest.checkPath(path) }
    }
}

/// The engine under the fan-out: our own client for `http://` addresses, libcurl for the rest,
/// merged in cluster order.
@Suite(.serialized) struct FanOutEngineTests {
    let base = FanOutTests()

    @Test func malformedAnswers_areBadResponse_nextToAnswersAndHTTPSNodes_inClusterOrder() throws {
        let peers = try Peers(2)
        let ambiguous = try StubServer { fd in
            StubServer.readHead(fd)
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
        }
        let garbage = try StubServer { fd in
            StubServer.readHead(fd)
            StubServer.send(fd, "SSH-2.0-OpenSSH_9.6\r\n\r\n")
        }
        let nodes = peers.servers()
        let servers = [
            nodes[0],
            ServerInfo(id: "ambiguous", type: "t", url: "http://127.0.0.1:\(ambiguous.port)", clusterUrl: "http://127.0.0.1:1"),
            // libcurl's: TLS to a port where nothing listens.
            ServerInfo(id: "tls", type: "t", url: "https://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"),
            ServerInfo(id: "garbage", type: "t", url: "http://127.0.0.1:\(garbage.port)/", clusterUrl: "http://127.0.0.1:1"),
            nodes[1],
        ]
        let sidecar = try base.sidecar(
            servers, me: ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"))
        let (status, answer) = try base.fanout(sidecar, #"{"url":"/ok"}"#)
        #expect(status == 200)
        #expect(base.ids(answer["results"]) == ["n0", "n1"])
        #expect(base.ids(answer["failures"]) == ["ambiguous", "tls", "garbage"])
        #expect(base.codes(answer) == ["bad_response", "connect", "bad_response"])
        let messages = ((answer["failures"] as? [[String: Any]]) ?? []).map {
            (($0["error"] as? [String: Any])?["message"] as? String) ?? "?"
        }
        #expect(messages.first == "conflicting Content-Length values")
    }

    @Test func fanOutConcurrency_boundsTheNodeRequestsInFlight() throws {
        // Five nodes on one stub that holds each request 50 ms; FANOUT_CONCURRENCY 2.
        let open = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let node = try StubServer { fd in
            while StubServer.nextHead(fd) != nil {
                let now = open.add(1, ordering: .relaxed).newValue
                _ = most.max(now, ordering: .relaxed)
                usleep(50_000)
                open.subtract(1, ordering: .relaxed)
                StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            }
        }
        let servers = (0..<5).map {
            ServerInfo(id: "s\($0)", type: "t", url: "http://127.0.0.1:\(node.port)/n\($0)", clusterUrl: "http://127.0.0.1:1")
        }
        var configuration = SidecarConfiguration()
        configuration.localAPIToken = nil
        let context = SidecarContext(
            configuration: configuration, health: HealthState(registered: true),
            fanOut: FanOut(settings: .init(concurrency: 2, timeout: .seconds(5)), tokens: nil))
        context.view.replace(with: servers)
        context.attach(me: ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"), registrar: nil)
        let sidecar = try TestServer(router: SidecarRoutes.local(context: context))
        let (status, answer) = try base.fanout(sidecar, #"{"url":"/ok"}"#)
        #expect(status == 200)
        #expect(base.ids(answer["results"]) == ["s0", "s1", "s2", "s3", "s4"])
        #expect(most.load(ordering: .relaxed) == 2)
    }

    @Test func largeFanOut_isSplitAcrossTheLoops_inContiguousParts_sharingItsConcurrency() throws {
        // Each connection records the paths it carried; each request is held 20 ms.
        let carried = Mutex<[[String]]>([])
        let open = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let node = try StubServer { fd in
            let me = carried.withLock { c in
                c.append([])
                return c.count - 1
            }
            while let seen = StubServer.nextHead(fd) {
                let path = String(decoding: seen, as: UTF8.self).split(separator: " ")[1]
                carried.withLock { $0[me].append(String(path)) }
                _ = most.max(open.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
                usleep(20_000)
                open.subtract(1, ordering: .relaxed)
                StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            }
        }
        let servers = (0..<6).map {
            ServerInfo(id: "s\($0)", type: "t", url: "http://127.0.0.1:\(node.port)/n\($0)", clusterUrl: "http://127.0.0.1:1")
        }
        let context = SidecarContext(
            configuration: SidecarConfiguration(), health: HealthState(registered: true),
            fanOut: FanOut(settings: .init(concurrency: 2, timeout: .seconds(5), spreadMinimum: 4), tokens: nil))
        context.view.replace(with: servers)
        context.attach(me: ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"), registrar: nil)
        let sidecar = try TestServer(router: SidecarRoutes.local(context: context), ServerConfiguration(loops: 2))
        context.attach(server: sidecar.server)
        let (status, answer) = try base.fanout(sidecar, #"{"url":"/ok"}"#)
        #expect(status == 200)
        #expect(base.ids(answer["results"]) == ["s0", "s1", "s2", "s3", "s4", "s5"])
        #expect(most.load(ordering: .relaxed) <= 2)
        // One part per loop, each with one of the two requests in flight: one connection each.
        #expect(Set(carried.withLock { $0 }) == [["/n0/ok", "/n1/ok", "/n2/ok"], ["/n3/ok", "/n4/ok", "/n5/ok"]])
    }
}
