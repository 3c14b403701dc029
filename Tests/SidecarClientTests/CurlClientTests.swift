import Glibc
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarHTTP
@testable import SidecarPosix

@Suite(.serialized) struct CurlClientTests {
    static let client = CurlClient(
        configuration: ClientConfiguration(connectTimeout: .seconds(2), requestTimeout: .seconds(5), maxResponseBytes: 1 << 16))

    /// A server whose `/slow` answers after 3 s; `arrived` counts the `/slow` requests it has.
    func slowServer(arrived: Counter = Counter()) throws -> TestServer {
        try TestServer { router in
            router.onAsync("GET", "/slow") { _ in
                arrived.add()
                try? await Task.sleep(for: .seconds(3))
                return .json(200, "{}")
            }
            router.on("GET", "/big") { _ in HTTPResponse(status: 200, body: [UInt8](repeating: 1, count: 1 << 17)) }
            router.on("GET", "/teapot") { _ in .error(418, code: "teapot", message: "short and stout") }
        }
    }

    @Test func answers_andStatusesAreAnswersNotErrors() async throws {
        let server = try slowServer()
        let ok = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(server.port)/healthz"))
        #expect(ok.status == 200)
        #expect(String(decoding: ok.body, as: UTF8.self) == #"{"status":"ok"}"#)
        #expect(ok.headers["content-type"] == "application/json")
        let teapot = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(server.port)/teapot"))
        #expect(teapot.status == 418)
    }

    @Test func post_sendsItsBody() async throws {
        let server = try slowServer()
        let body = Array(String(repeating: "x", count: 5000).utf8)
        let r = try await Self.client.execute(
            ClientRequest(method: "POST", url: "http://127.0.0.1:\(server.port)/echo", headers: [("X-A", "1")], body: body))
        #expect(r.status == 200)
        #expect(r.body == body)
    }

    @Test func reusedHandles_carryNoMethodOrBodyOver() async throws {
        // Handles are reused without a reset: each request must set its whole method state.
        let server = try TestServer { router in
            for method in ["GET", "POST", "DELETE", "PUT", "HEAD"] {
                router.on(method, "/m") { request in
                    .json(
                        200,
                        encoding: [
                            "method": request.method, "body": String(decoding: request.body, as: UTF8.self),
                            "headers": request.fields["x-h"] ?? "-",
                        ])
                }
            }
        }
        let url = "http://127.0.0.1:\(server.port)/m"
        let client = CurlClient()
        defer { client.shutdown() }
        for (method, body, header) in [
            ("POST", "abc", "1"), ("GET", "", "-"), ("DELETE", "", "2"), ("PUT", "", "-"), ("POST", "", "-"), ("GET", "", "3"),
        ] {
            let r = try await client.execute(
                ClientRequest(method: method, url: url, headers: header == "-" ? [] : [("X-H", header)], body: Array(body.utf8)))
            #expect(String(decoding: r.body, as: UTF8.self) == #"{"body":"\#(body)","headers":"\#(header)","method":"\#(method)"}"#)
        }
        let head = try await client.execute(ClientRequest(method: "HEAD", url: url))
        #expect(head.status == 200 && head.body.isEmpty)
        let after = try await client.execute(ClientRequest(url: url))
        #expect(String(decoding: after.body, as: UTF8.self) == #"{"body":"","headers":"-","method":"GET"}"#, "no HEAD left over")
    }

    @Test func keptAliveConnectionClosedByItsServer_isNotSpunOn_andNotReused() async throws {
        // The server answers as if keeping the connection, then closes it while the client idles.
        let server = try StubServer { fd in
            StubServer.readHead(fd)
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        }
        let client = CurlClient()
        defer { client.shutdown() }
        let url = "http://127.0.0.1:\(server.port)/"
        #expect(try await client.execute(ClientRequest(url: url)).status == 200)
        func cpu() -> Double {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }
        let before = cpu()
        try await Task.sleep(for: .milliseconds(300))
        #expect(cpu() - before < 0.1, "the parked socket's hang-up must not wake the client again and again")
        let again = try await client.execute(ClientRequest(url: url))
        #expect(again.status == 200 && again.newConnections == 1, "a fresh connection, not the dead one")
    }

    @Test func keepAlive_reusesOneConnectionForManyRequests() async throws {
        let server = try slowServer()
        for _ in 0..<50 {
            _ = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(server.port)/healthz"))
        }
        #expect(server.server.acceptedConnections == 1)
    }

    @Test func manyConcurrentRequests_completeInAnyOrder_onFewConnections() async throws {
        let server = try slowServer()
        let url = "http://127.0.0.1:\(server.port)/healthz"
        let results = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<500 {
                group.addTask { (try? await Self.client.execute(ClientRequest(url: url)).status) ?? -1 }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results.count == 500)
        #expect(results.allSatisfy { $0 == 200 })
        #expect(server.server.acceptedConnections <= 8)
    }

    @Test func deadline_failsWithTimeout() async throws {
        let server = try slowServer()
        let start = ContinuousClock.now
        await #expect(throws: ClientError.timeout) {
            _ = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(server.port)/slow", timeout: .seconds(exactly: 0.2)))
        }
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func refusedPort_failsWithConnect() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        let port = UInt16(bigEndian: sa.sin_port)
        close(fd)  // bound then closed: nothing listens there
        await #expect(throws: ClientError.connect) {
            _ = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(port)/"))
        }
    }

    @Test func stallMidBody_failsWithTimeout() async throws {
        let stub = try StubServer { fd in
            StubServer.readHead(fd)
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            usleep(1_500_000)
        }
        await #expect(throws: ClientError.timeout) {
            _ = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(stub.port)/", timeout: .seconds(exactly: 0.3)))
        }
    }

    @Test func resetMidBody_failsWithIO() async throws {
        let stub = try StubServer { fd in
            StubServer.readHead(fd)
            StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        await #expect(throws: ClientError.io) {
            _ = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(stub.port)/", timeout: .seconds(2)))
        }
    }

    @Test func bodyOverTheCap_failsWithTooLarge() async throws {
        let server = try slowServer()
        await #expect(throws: ClientError.tooLarge) {
            _ = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:\(server.port)/big"))
        }
    }

    @Test func cancellation_stopsTheTransfer() async throws {
        let arrived = Counter()
        let server = try slowServer(arrived: arrived)
        let url = "http://127.0.0.1:\(server.port)/slow"
        let task = Task { try await Self.client.execute(ClientRequest(url: url)) }
        #expect(eventually { arrived.value == 1 }, "the request reached the server")
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: ClientError.cancelled) { _ = try await task.value }
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func cancellation_beforeTheRequestReachesTheClient_isNotLost() async throws {
        let server = try slowServer()
        let url = "http://127.0.0.1:\(server.port)/slow"
        for _ in 0..<20 {
            // Cancelled at once: the cancel may reach the client's thread before the request.
            let task = Task { try await Self.client.execute(ClientRequest(url: url)) }
            task.cancel()
            let start = ContinuousClock.now
            await #expect(throws: ClientError.cancelled) { _ = try await task.value }
            #expect(ContinuousClock.now - start < .seconds(1))
        }
    }

    @Test func headerInjection_isRefused() async throws {
        await #expect(throws: ClientError.badRequest) {
            _ = try await Self.client.execute(ClientRequest(url: "http://127.0.0.1:1/", headers: [("X", "a\r\nB: c")]))
        }
    }

    @Test func batch_answersInRequestOrder_andHoldsItsConcurrency() async throws {
        let server = try TestServer { router in
            router.onAsync("GET", "/wait") { _ in
                try? await Task.sleep(for: .milliseconds(150))
                return .json(200, "{}")
            }
        }
        let base = "http://127.0.0.1:\(server.port)"
        let requests = [
            ClientRequest(url: base + "/wait"), ClientRequest(url: base + "/missing"), ClientRequest(url: base + "/wait"),
            ClientRequest(url: "http://127.0.0.1:1/"),
        ]
        let start = ContinuousClock.now
        let results = await Self.client.execute(batch: requests, concurrency: 1)
        #expect(ContinuousClock.now - start >= .milliseconds(300), "one at a time: two waits in a row")
        #expect(results.count == 4)
        #expect((try? results[0].get().status) == 200)
        #expect((try? results[1].get().status) == 404)
        #expect((try? results[2].get().status) == 200)
        guard case .failure(let e) = results[3] else {
            Issue.record("refused port answered")
            return
        }
        #expect(e == .connect)
        #expect(await Self.client.execute(batch: [], concurrency: 4).isEmpty)
    }

    @Test func batch_cancellation_failsWhatIsLeft() async throws {
        let arrived = Counter()
        let server = try slowServer(arrived: arrived)
        let url = "http://127.0.0.1:\(server.port)/slow"
        let task = Task { await Self.client.execute(batch: Array(repeating: ClientRequest(url: url), count: 10), concurrency: 2) }
        #expect(eventually { arrived.value == 2 }, "the first two requests reached the server")
        let start = ContinuousClock.now
        task.cancel()
        let results = await task.value
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(results.count == 10)
        #expect(results.allSatisfy { if case .failure(.cancelled) = $0 { true } else { false } })
    }

    @Test func shutDownClient_failsNewRequests() async throws {
        let client = CurlClient()
        client.shutdown()
        await #expect(throws: ClientError.shutdown) {
            _ = try await client.execute(ClientRequest(url: "http://127.0.0.1:1/"))
        }
    }
}
