import Glibc
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarHTTP
@testable import SidecarPosix

/// Our own client on a real event loop, against stub nodes over real sockets.
@Suite(.serialized) struct HTTP1EngineTests {
    typealias Outcome = Result<ClientResponse, ClientError>

    /// An event loop running one `HTTP1Engine`, and the outcomes it reported.
    final class Harness: HTTP1Sink, @unchecked Sendable {  // engine touched on the loop's thread only; outcomes behind a Mutex
        let loop: EventLoop
        private var engine: HTTP1Engine!
        let outcomes = Mutex<[Int: Outcome]>([:])

        init(
            _ configuration: ClientConfiguration = ClientConfiguration(
                connectTimeout: .seconds(1), requestTimeout: .seconds(2), maxResponseBytes: 1024)
        ) throws {
            loop = try EventLoop()
            engine = HTTP1Engine(configuration: configuration, reactor: loop)
            loop.host(engine)
            loop.start()
        }

        deinit { loop.stop() }

        func finished(_ index: Int, _ result: Outcome) { outcomes.withLock { $0[index] = result } }

        /// Sends to `url` as node `index`; waits for its outcome.
        func send(
            _ url: String, index: Int, method: String = "GET", path: String = "/x", headers: [(String, String)] = [], body: [UInt8] = [],
            timeout: Duration? = nil
        ) -> Outcome? {
            start(url, indices: [index], method: method, path: path, headers: headers, body: body, timeout: timeout)
            return wait(index)
        }

        func start(
            _ url: String, indices: [Int], method: String = "GET", path: String = "/x", headers: [(String, String)] = [],
            body: [UInt8] = [], timeout: Duration? = nil
        ) {
            let batch = HTTP1Batch(method: method, path: path, headers: headers, body: body, timeout: timeout)!
            loop.execute { [self] in
                let node = engine.node(url)!
                for k in indices { engine.start(batch, index: k, node: node, sink: self) }
            }
        }

        func wait(_ index: Int, seconds: Double = 5) -> Outcome? {
            var found: Outcome?
            _ = eventually(seconds) {
                found = outcomes.withLock { $0[index] }
                return found != nil
            }
            return found
        }

        /// Connections the engine holds open, read on its loop.
        var openConnections: Int { onLoop { $0.openConnections } }

        /// Nodes the engine keeps a pool for, read on its loop.
        var pooledNodes: Int { onLoop { $0.pooledNodes } }

        private func onLoop(_ read: @escaping @Sendable (HTTP1Engine) -> Int) -> Int {
            let box = Mutex<Int?>(nil)
            loop.execute { [self] in box.withLock { $0 = read(engine) } }
            var n = 0
            _ = eventually(2) { box.withLock { v in v.map { n = $0 } != nil } }
            return n
        }
    }

    /// A node that answers every request on a connection with `answer` (keep-alive), recording
    /// what it received.
    static func keepAliveNode(
        _ answer: String = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", closeAfter: Int = .max, received: Recorder? = nil
    ) throws -> StubServer {
        try StubServer { fd in
            var served = 0
            while served < closeAfter {
                guard let head = readRequest(fd) else { return }
                received?.bytes.withLock { $0 += head }
                StubServer.send(fd, answer)
                served += 1
            }
        }
    }

    final class Recorder: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    /// Reads one request (head, then a Content-Length body); nil at the end of the connection.
    static func readRequest(_ fd: Int32) -> [UInt8]? {
        guard var seen = StubServer.nextHead(fd) else { return nil }
        var byte: UInt8 = 0
        let head = String(decoding: seen, as: UTF8.self)
        if let line = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
            let n = Int(String(line.split(separator: ":")[1].filter { $0 != " " }))
        {
            for _ in 0..<n {
                guard recv(fd, &byte, 1, 0) == 1 else { return nil }
                seen.append(byte)
            }
        }
        return seen
    }

    func code(_ outcome: Outcome?) -> String {
        switch outcome {
        case .success(let r)?: "\(r.status)"
        case .failure(let e)?: e.label
        case nil: "none"
        }
    }

    @Test func keepAlive_reusesOneConnection() throws {
        let node = try Self.keepAliveNode()
        let h = try Harness()
        let url = "http://127.0.0.1:\(node.port)"
        for k in 0..<5 {
            guard case .success(let r) = h.send(url, index: k) else {
                Issue.record("request \(k) failed")
                return
            }
            #expect(r.status == 200 && r.body == Array("ok".utf8))
            #expect(r.newConnections == (k == 0 ? 1 : 0))
        }
        #expect(node.accepted.load(ordering: .relaxed) == 1)
        #expect(h.openConnections == 1)
    }

    @Test func requestBytes_areExactlyTheLineHostFieldsLengthAndBody() throws {
        let received = Recorder()
        let node = try Self.keepAliveNode(received: received)
        let h = try Harness()
        _ = h.send("http://127.0.0.1:\(node.port)/base/", index: 0, path: "/x?q=1", headers: [("X-A", "1"), ("authorization", "Bearer t")])
        _ = h.send("http://127.0.0.1:\(node.port)", index: 1, method: "POST", path: "/p", body: Array("hello".utf8))
        _ = h.send("http://127.0.0.1:\(node.port)", index: 2, method: "DELETE", path: "/d")
        let text = String(decoding: received.bytes.withLock { $0 }, as: UTF8.self)
        #expect(
            text == "GET /base/x?q=1 HTTP/1.1\r\nHost: 127.0.0.1:\(node.port)\r\nX-A: 1\r\nauthorization: Bearer t\r\n\r\n"
                + "POST /p HTTP/1.1\r\nHost: 127.0.0.1:\(node.port)\r\nContent-Length: 5\r\n\r\nhello"
                + "DELETE /d HTTP/1.1\r\nHost: 127.0.0.1:\(node.port)\r\n\r\n")
    }

    @Test func keptAliveConnectionClosedByTheNode_isNotReused_andTheRequestStillAnswers() throws {
        // The node answers one request per connection while saying keep-alive, then closes.
        let node = try Self.keepAliveNode(closeAfter: 1)
        let h = try Harness()
        let url = "http://127.0.0.1:\(node.port)"
        #expect(code(h.send(url, index: 0)) == "200")
        // Whether the close is seen while idle or only when the request goes out, the request is answered.
        for k in 1...4 { #expect(code(h.send(url, index: k)) == "200") }
        #expect(node.accepted.load(ordering: .relaxed) == 5)
    }

    @Test func staleConnection_isResentOnce_notForever() throws {
        // Every connection answers its first request, then swallows the next one and closes.
        let node = try StubServer { fd in
            guard Self.readRequest(fd) != nil else { return }
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            _ = Self.readRequest(fd)
        }
        let h = try Harness()
        let url = "http://127.0.0.1:\(node.port)"
        #expect(code(h.send(url, index: 0)) == "200")
        // Sent on the kept connection (closed unanswered), then once on a new one, which answers.
        #expect(code(h.send(url, index: 1)) == "200")
        #expect(node.accepted.load(ordering: .relaxed) == 2)
    }

    @Test func idleConnections_closeAfterTheIdleTimeout() throws {
        let node = try Self.keepAliveNode()
        let h = try Harness(ClientConfiguration(requestTimeout: .seconds(2), idleTimeout: .milliseconds(100)))
        #expect(code(h.send("http://127.0.0.1:\(node.port)", index: 0)) == "200")
        #expect(h.openConnections == 1)
        #expect(eventually(2) { h.openConnections == 0 })
        // The node's pool goes too: nodes that leave the cluster leave nothing behind.
        #expect(eventually(2) { h.pooledNodes == 0 })
    }

    @Test func perNodeCap_holds_andQueuedRequestsAllAnswer() throws {
        let open = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let node = try StubServer { fd in
            let now = open.add(1, ordering: .relaxed).newValue
            _ = most.max(now, ordering: .relaxed)
            defer { open.subtract(1, ordering: .relaxed) }
            while Self.readRequest(fd) != nil {
                usleep(20_000)
                StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            }
        }
        let h = try Harness(ClientConfiguration(requestTimeout: .seconds(5), maxConnectionsPerHost: 2))
        h.start("http://127.0.0.1:\(node.port)", indices: Array(0..<10))
        for k in 0..<10 { #expect(code(h.wait(k)) == "200") }
        #expect(most.load(ordering: .relaxed) <= 2)
        #expect(node.accepted.load(ordering: .relaxed) == 2)
    }

    @Test func failures_haveTheirCodes_andTheirConnectionsClose() throws {
        let silent = try StubServer { fd in
            _ = Self.readRequest(fd)
            usleep(1_000_000)
        }
        let ambiguous = try Self.keepAliveNode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        let big = try Self.keepAliveNode("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + String(repeating: "x", count: 2000))
        let cut = try StubServer { fd in
            _ = Self.readRequest(fd)
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        }
        let h = try Harness()
        #expect(code(h.send("http://127.0.0.1:\(silent.port)", index: 0, timeout: .milliseconds(200))) == "timeout")
        #expect(code(h.send("http://127.0.0.1:\(ambiguous.port)", index: 1)) == "bad_response")
        #expect(code(h.send("http://127.0.0.1:\(big.port)", index: 2)) == "too_large")
        #expect(code(h.send("http://127.0.0.1:\(cut.port)", index: 3)) == "io")
        #expect(code(h.send("http://127.0.0.1:1", index: 4)) == "connect")
        #expect(h.openConnections == 0)
        if case .failure(let e)? = h.outcomes.withLock({ $0[1] }) { #expect(e.message == "both Content-Length and Transfer-Encoding") }
    }

    @Test func closeDelimitedAnswer_endsWithTheConnection() throws {
        let node = try StubServer { fd in
            _ = Self.readRequest(fd)
            StubServer.send(fd, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        }
        let h = try Harness()
        guard case .success(let r)? = h.send("http://127.0.0.1:\(node.port)", index: 0) else {
            Issue.record("no answer")
            return
        }
        #expect(String(decoding: r.body, as: UTF8.self) == "until the end")
        #expect(r.headers["content-type"] == "text/plain")
        #expect(h.openConnections == 0)
    }

    @Test func headFields_thatCannotBeSent_refuseTheBatch() {
        #expect(HTTP1Batch(method: "GET", path: "/", headers: [("X", "a\r\nInjected: 1")], body: [], timeout: nil) == nil)
        #expect(HTTP1Batch(method: "GET", path: "/", headers: [("Bad Name", "a")], body: [], timeout: nil) == nil)
        #expect(HTTP1Batch(method: "GET", path: "/a b", headers: [], body: [], timeout: nil) == nil)
        #expect(HTTP1Batch(method: "GET", path: "/", headers: [("X", "ok")], body: [], timeout: nil) != nil)
    }

    @Test(arguments: [
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1:8080", ""),
        ("HTTP://127.0.0.1", "127.0.0.1:80", "127.0.0.1", ""),
        ("http://127.0.0.1:80/", "127.0.0.1:80", "127.0.0.1", ""),
        ("http://[::1]:9000/api/", "[::1]:9000", "[::1]:9000", "/api"),
        ("http://localhost:7000/a/b", "127.0.0.1:7000", "localhost:7000", "/a/b"),
    ])
    func nodeURLs_ourClientServes(_ url: String, _ address: String, _ host: String, _ base: String) throws {
        let node = try #require(NodeAddress(url))
        #expect(node.address.description == address)
        #expect(node.host == host)
        #expect(node.basePath == base)
    }

    @Test(arguments: [
        "http://node.internal:8080", "http://user@127.0.0.1:1", "http://127.0.0.1:0", "http://127.0.0.1:65536",
        "http://127.0.0.1:8x", "http://127.0.0.1/a?b", "http://127.0.0.1/a#b", "http://", "ftp://127.0.0.1", "http://[::1", "http://[::1]x",
    ])
    func nodeURLs_leftToLibcurl(_ url: String) {
        #expect(NodeAddress(url) == nil)
    }
}
