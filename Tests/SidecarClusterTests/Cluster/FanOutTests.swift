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

@Suite(.serialized) struct FanOutTests {
    /// A local API with `servers` in its view; self is the first server unless `me` is given.
    func sidecar(
        _ servers: [ServerInfo], me: ServerInfo? = nil, cap: Int = 100_000, localToken: String? = nil, maxPending: Int = 256,
        names: NameCache? = nil
    ) throws -> TestServer {
        var configuration = SidecarConfiguration()
        configuration.localAPIToken = localToken.map(Secret.init)
        let context = SidecarContext(
            configuration: configuration, health: HealthState(registered: true),
            fanOut: FanOut(
                settings: .init(concurrency: 64, timeout: .seconds(5), maxResponseBytes: cap, maxPending: maxPending),
                tokens: TokenProvider(source: .fixed(Secret("cluster-tok")), client: TestClients.shared), names: names))
        context.view.replace(with: servers)
        context.attach(
            me: me ?? servers.first ?? ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"),
            registrar: nil)
        return try TestServer(router: SidecarRoutes.local(context: context))
    }

    func fanout(_ server: TestServer, _ body: String, headers: String = "") throws -> (Int, [String: Any]) {
        let client = try server.client(timeout: 10)
        try client.send(
            "POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        let r = try client.readResponse()
        return (r.status, (try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]) ?? [:])
    }

    func ids(_ entries: Any?) -> [String] {
        ((entries as? [[String: Any]]) ?? []).map { (($0["server"] as? [String: Any])?["id"] as? String) ?? "?" }
    }

    func codes(_ answer: [String: Any]) -> [String] {
        ((answer["failures"] as? [[String: Any]]) ?? []).map { (($0["error"] as? [String: Any])?["code"] as? String) ?? "?" }
    }

    @Test func everyAnswerAndEveryFailure_inClusterOrder() throws {
        let peers = try Peers(3)
        let stall = try StubServer { fd in
            StubServer.readHead(fd)
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        var servers = peers.servers()
        servers.append(ServerInfo(id: "reset", type: "t", url: "http://127.0.0.1:\(stall.port)", clusterUrl: "http://127.0.0.1:1"))
        servers.append(ServerInfo(id: "refused", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"))
        let sidecar = try sidecar(servers)
        let (status, answer) = try fanout(sidecar, #"{"url":"/ok"}"#)
        #expect(status == 200)
        #expect(ids(answer["results"]) == ["n0", "n1", "n2"])
        #expect(ids(answer["failures"]) == ["reset", "refused"])
        #expect(codes(answer) == ["io", "connect"])
        let data = answer["data"] as? [[String: Any]]
        #expect(data?.map { $0["node"] as? Int } == [0, 1, 2])
        let first = (answer["results"] as? [[String: Any]])?.first?["result"] as? [String: Any]
        #expect(first?["status"] as? Int == 200)
        #expect((first?["headers"] as? [String: String])?["content-type"] == "application/json")
        #expect(first?["durationMs"] is Double)
    }

    @Test func slowNode_timesOut_withinItsTimeout() throws {
        let peers = try Peers(2)
        let sidecar = try sidecar(peers.servers())
        let start = Date()
        let (_, answer) = try fanout(sidecar, #"{"url":"/slow","timeout":300}"#)
        #expect(codes(answer) == ["timeout", "timeout"])
        #expect(Date().timeIntervalSince(start) < 1.5)
    }

    @Test func stoppingTheServer_midFanOut_closesTheCallAtOnce() throws {
        let peers = try Peers(2)
        let sidecar = try sidecar(peers.servers())
        let client = try sidecar.client(timeout: 3)
        let body = #"{"url":"/slow"}"#
        try client.send("POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(eventually { peers.total == 2 }, "both nodes' requests went out from the loop")
        let start = Date()
        sidecar.server.stop()
        #expect(client.isClosedByPeer(), "the caller's connection closes with the loop")
        #expect(Date().timeIntervalSince(start) < 1, "not held until the nodes answer (2 s)")
        // The same peers still serve a new sidecar: nothing was left half-done on them.
        let (_, answer) = try fanout(try self.sidecar(peers.servers()), #"{"url":"/ok"}"#)
        #expect(ids(answer["results"]) == ["n0", "n1"])
    }

    @Test func beyondMaxPending_is503AtOnce_withRetryAfter_andEveryCallIsAnswered() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers(), maxPending: 2)
        let body = #"{"url":"/slow"}"#
        let request = "POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let slow = try (0..<2).map { _ in try sidecar.client(timeout: 5) }
        for c in slow { try c.send(request) }
        #expect(eventually { peers.total == 2 })
        let start = Date()
        let third = try sidecar.client()
        try third.send(request)
        let refused = try third.readResponse()
        #expect(refused.status == 503 && refused.field("Retry-After") == "1" && refused.bodyText.contains("fanout_overloaded"))
        try third.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try third.readResponse().status == 200)
        #expect(Date().timeIntervalSince(start) < 1, "refused and probed at once, not after the slow ones")
        #expect(peers.total == 2, "nothing was sent for the refused call")
        for c in slow { #expect(try c.readResponse().status == 200) }
        // Room again once they ended.
        try third.send(request)
        #expect(try third.readResponse().status == 200)
    }

    @Test func proxyVariablesOfTheEnvironment_doNotApplyToTheFanOut() async throws {
        let peers = try Peers(2)
        let sidecar = try sidecar(peers.servers())
        setenv("http_proxy", "http://127.0.0.1:1", 1)
        defer { unsetenv("http_proxy") }
        // The variable is in effect: a client that honours it cannot reach the peer.
        let client = CurlClient()
        defer { client.shutdown() }
        await #expect(throws: ClientError.self) { try await client.execute(ClientRequest(url: "http://127.0.0.1:\(peers.ports[0])/ok")) }
        let (_, answer) = try fanout(sidecar, #"{"url":"/ok"}"#)
        #expect(ids(answer["results"]) == ["n0", "n1"])
    }

    @Test func non2xx_isAFailureWithStatusAndData() throws {
        let peers = try Peers(1)
        let (_, answer) = try fanout(try sidecar(peers.servers()), #"{"url":"/fail"}"#)
        let error = ((answer["failures"] as? [[String: Any]])?.first?["error"]) as? [String: Any]
        #expect(error?["code"] as? String == "http_status")
        #expect(error?["status"] as? Int == 500)
        #expect((error?["data"] as? [String: Any])?["error"] as? String == "boom")
        #expect((answer["data"] as? [Any])?.isEmpty == true)
    }

    @Test func answerOverTheCap_isTooLarge_andTextStaysText() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers(), cap: 100_000)
        #expect(codes(try fanout(sidecar, #"{"url":"/big"}"#).1) == ["too_large"])
        #expect((try fanout(sidecar, #"{"url":"/text"}"#).1["data"] as? [String]) == ["hello"])
    }

    @Test func headers_forwardAuthorization_orAttachAClusterToken_dropHopByHop_passCorrelationID() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers())
        let (_, attached) = try fanout(
            sidecar,
            #"{"url":"/headers","headers":{"X-A":"1","Connection":"x-b","X-B":"2","Keep-Alive":"5","Upgrade":"h2c","TE":"trailers"}}"#,
            headers: "X-Correlation-Id: corr-1\r\n")
        let seen = (attached["data"] as? [[String: String]])?.first ?? [:]
        #expect(seen["authorization"] == "Bearer cluster-tok")
        #expect(seen["x-a"] == "1")
        #expect(seen["x-b"] == nil && seen["keep-alive"] == nil && seen["upgrade"] == nil && seen["te"] == nil)
        #expect(seen["x-correlation-id"] == "corr-1")
        let (_, forwarded) = try fanout(sidecar, #"{"url":"/headers","headers":{"Authorization":"Bearer caller"}}"#)
        #expect((forwarded["data"] as? [[String: String]])?.first?["authorization"] == "Bearer caller")
    }

    @Test func includeSelf_false_leavesUsOut_andEmptyOrSingleClustersWork() throws {
        let peers = try Peers(2)
        let servers = peers.servers()
        let sidecar = try sidecar(servers, me: servers[0])
        #expect(ids(try fanout(sidecar, #"{"url":"/ok","includeSelf":false}"#).1["results"]) == ["n1"])
        let alone = try self.sidecar([servers[0]])
        #expect(ids(try fanout(alone, #"{"url":"/ok"}"#).1["results"]) == ["n0"])
        let (status, empty) = try fanout(try self.sidecar([]), #"{"url":"/ok"}"#)
        #expect(status == 200)
        #expect(
            (empty["results"] as? [Any])?.isEmpty == true && (empty["failures"] as? [Any])?.isEmpty == true
                && (empty["data"] as? [Any])?.isEmpty == true)
    }

    @Test func methodParamsAndData_reachTheNodes() throws {
        let peers = try Peers(1)
        let (_, answer) = try fanout(
            try sidecar(peers.servers()), #"{"method":"put","url":"/echo?a=1","params":{"b":2,"c":"x y"},"data":{"k":true}}"#)
        let seen = (answer["data"] as? [[String: String]])?.first
        #expect(seen?["method"] == "PUT")
        #expect(seen?["query"] == "a=1&b=2&c=x%20y")
        #expect(seen?["body"] == #"{"k":true}"#)
    }

    @Test func retries_onlyForIdempotentMethods() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers())
        #expect(codes(try fanout(sidecar, #"{"url":"/flaky","retries":1}"#).1).isEmpty)
        #expect(codes(try fanout(sidecar, #"{"method":"POST","url":"/flaky","retries":3}"#).1) == ["http_status"])
    }

    static let ssrf: [String] = [
        #"{"url":"http://evil.example/"}"#, #"{"url":"//evil.example/x"}"#, #"{"url":"evil.example/x"}"#, #"{"url":"/a\\b"}"#,
        #"{"url":"/a/../b"}"#, #"{"url":"/.."}"#, #"{"url":"/a/%2e%2e/b"}"#, #"{"url":"/a/.%2E/b"}"#, #"{"url":"/a/%2E./b"}"#,
        #"{"url":"/a/%2fb"}"#, #"{"url":"/a/%5cb"}"#, #"{"url":"/a\u0000b"}"#, #"{"url":"/a\nb"}"#, #"{"url":"/a b"}"#,
        #"{"url":"/a%zz"}"#, #"{"url":"/a#frag"}"#, #"{"url":"/./a"}"#, #"{"url":""}"#, #"{"url":"@evil/x"}"#,
        #"{"url":"/ok","method":"CONNECT"}"#, #"{"url":"/ok","headers":{"X\r\nY":"1"}}"#, #"{"url":"/ok","timeout":-1}"#,
        #"{"url":"/ok","retries":99}"#, #"{"url":"/ok","bogus":1}"#, #"{"nourl":1}"#, "not json",
    ]

    @Test func ssrfAndBadOptions_are400_andNothingReachesAnyPeer() throws {
        let peers = try Peers(2)
        let sidecar = try sidecar(peers.servers())
        for body in Self.ssrf {
            let (status, answer) = try fanout(sidecar, body)
            #expect(status == 400, "\(body)")
            #expect((answer["error"] as? [String: Any])?["code"] as? String == "bad_fanout")
        }
        #expect(peers.total == 0)
    }

    @Test func proxyForm_sendsMethodPathQueryAndBody() throws {
        let peers = try Peers(2)
        let sidecar = try sidecar(peers.servers())
        let client = try sidecar.client()
        try client.send(
            "PATCH /cluster/proxy/echo?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nX-Fanout-Timeout: 2000\r\n\r\nabc")
        let r = try client.readResponse()
        let answer = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        let seen = answer?["data"] as? [[String: String]]
        #expect(seen?.count == 2)
        #expect(seen?.first == ["method": "PATCH", "path": "/echo", "query": "x=1", "body": "abc"])
        try client.send("GET /cluster/proxy/a/%2e%2e/ok HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 400)
        try client.send("GET /cluster/proxy/a/../ok HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 400)
        try client.send("GET /cluster/proxy/./ok HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try client.readResponse().status == 400)
        #expect(peers.total == 2)
    }

    @Test func proxyForm_sendsExactlyTheCallersFields_plusCorrelationAndToken() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers())
        let client = try sidecar.client()
        try client.send("POST /cluster/proxy/headers HTTP/1.1\r\nHost: localhost\r\nX-Mine: 1\r\nContent-Length: 3\r\n\r\nabc")
        let answer = try JSONSerialization.jsonObject(with: Data(client.readResponse().body)) as? [String: Any]
        let seen = (answer?["data"] as? [[String: String]])?.first ?? [:]
        // No Accept: */* and no form content type of libcurl's; Host and Content-Length describe the request.
        #expect(Set(seen.keys) == ["host", "content-length", "x-mine", "x-correlation-id", "authorization"])
        try client.send(
            "POST /cluster/proxy/headers HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\nContent-Type: text/csv\r\nContent-Length: 1\r\n\r\nx"
        )
        let again = try JSONSerialization.jsonObject(with: Data(client.readResponse().body)) as? [String: Any]
        let kept = (again?["data"] as? [[String: String]])?.first ?? [:]
        #expect(kept["accept"] == "text/plain" && kept["content-type"] == "text/csv")
    }

    @Test(arguments: ["0.5", "1e3", "+5", "0", "300001", "", "1 2", "0x10"])
    func proxyTimeoutHeader_isWholeMilliseconds(_ value: String) throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers())
        let client = try sidecar.client()
        try client.send("GET /cluster/proxy/headers HTTP/1.1\r\nHost: localhost\r\nX-Fanout-Timeout: \(value)\r\n\r\n")
        #expect(try client.readResponse().status == 400, "x-fanout-timeout: \(value)")
        #expect(peers.total == 0)
    }

    @Test func proxyForm_forwardsRegisteredMethods_butNeverTraceOrConnect() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers())
        let client = try sidecar.client()
        // The node has no PROPFIND route: its 405 proves the request reached it.
        try client.send("PROPFIND /cluster/proxy/echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let r = try client.readResponse()
        #expect(r.status == 200)
        let failure = ((try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["failures"] as? [[String: Any]])?.first
        #expect((failure?["error"] as? [String: Any])?["status"] as? Int == 405)
        for method in ["TRACE", "CONNECT"] {
            try client.send("\(method) /cluster/proxy/echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let refused = try client.readResponse()
            #expect(refused.status == 405, "\(method)")
            let allow = refused.field("Allow") ?? ""
            #expect(allow.contains("PROPFIND") && !allow.contains("TRACE") && !allow.contains("CONNECT"))
        }
    }

    @Test func expectContinue_withoutTheLocalToken_is401AtOnce() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers(), localToken: "local-secret")
        let client = try sidecar.client()
        try client.send("POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 12\r\n\r\n")
        #expect(try client.readResponse().status == 401)
        #expect(peers.total == 0)
    }

    @Test func proxyForm_doesNotLeakTheLocalToken() throws {
        let peers = try Peers(1)
        let sidecar = try sidecar(peers.servers(), localToken: "local-secret")
        let client = try sidecar.client()
        try client.send("GET /cluster/proxy/headers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer local-secret\r\n\r\n")
        let answer = try JSONSerialization.jsonObject(with: Data(client.readResponse().body)) as? [String: Any]
        #expect((answer?["data"] as? [[String: String]])?.first?["authorization"] == "Bearer cluster-tok")
    }

    @Test func twoHundredFiftySixNodes_allAnswer() throws {
        let peers = try Peers(256)
        let (status, answer) = try fanout(try sidecar(peers.servers()), #"{"url":"/ok"}"#)
        #expect(status == 200)
        #expect((answer["results"] as? [Any])?.count == 256)
        #expect(codes(answer).isEmpty)
        #expect(ids(answer["results"]) == (0..<256).map { "n\($0)" })
    }
}
