import Glibc
import SidecarTestSupport
import Testing

@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarServer

@Suite struct ServerLimitsTests {
    static func config(header: Double = 10, idle: Double = 30, body: Double = 30, max: Int = 10_000) -> ServerConfiguration {
        ServerConfiguration(
            headerTimeout: .seconds(exactly: header), keepAliveTimeout: .seconds(exactly: idle), bodyTimeout: .seconds(exactly: body),
            lingerTimeout: .milliseconds(200), maxConnections: max, loops: 1)
    }

    @Test func headerTimeout_answers408_toAPartialHead() throws {
        let server = try TestServer(Self.config(header: 0.2))
        let client = try server.client()
        let start = ContinuousClock.now
        try client.send("GET /healthz HTTP/1.1\r\nHost: a\r\n")
        let r = try client.readResponse()
        #expect(r.status == 408)
        #expect(r.field("Connection") == "close")
        #expect(ContinuousClock.now - start >= .milliseconds(180))
        #expect(client.isClosedByPeer())
    }

    @Test func headerTimeout_closesASilentConnection() throws {
        let server = try TestServer(Self.config(header: 0.2))
        let client = try server.client()
        let start = ContinuousClock.now
        #expect(client.readToEnd().isEmpty)
        #expect(ContinuousClock.now - start >= .milliseconds(180))
        #expect(eventually { server.server.openConnections == 0 })
    }

    @Test func slowloris_trickleDoesNotExtendTheHeaderTimeout() throws {
        let server = try TestServer(Self.config(header: 0.3))
        let client = try server.client()
        let start = ContinuousClock.now
        for byte in "GET /healthz HTTP/1.1\r\nX: ".utf8 {
            try? client.send([byte])
            usleep(20_000)
            if ContinuousClock.now - start > .milliseconds(800) { break }
        }
        #expect(try client.readResponse().status == 408)
        #expect(ContinuousClock.now - start < .milliseconds(800))
    }

    @Test func keepAliveTimeout_closesAnIdleConnection() throws {
        let server = try TestServer(Self.config(idle: 0.2))
        let client = try server.client()
        try client.send(HTTPServerTests.get)
        #expect(try client.readResponse().status == 200)
        let start = ContinuousClock.now
        #expect(client.isClosedByPeer())
        #expect(ContinuousClock.now - start >= .milliseconds(180))
    }

    @Test func bodyTimeout_answers408_toAnIncompleteBody() throws {
        let server = try TestServer(Self.config(body: 0.2))
        let client = try server.client()
        try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        #expect(try client.readResponse().status == 408)
        #expect(client.isClosedByPeer())
    }

    @Test func connectionLimit_closesNewConnectionsAtOnce_andKeepsTheOld() throws {
        let server = try TestServer(Self.config(max: 3))
        let old = try (0..<3).map { _ in try server.client() }
        for c in old {
            try c.send(HTTPServerTests.get)
            #expect(try c.readResponse().status == 200)
        }
        let extra = try server.client(timeout: 2)
        #expect(extra.isClosedByPeer())
        #expect(server.server.rejectedConnections == 1)
        for c in old {
            try c.send(HTTPServerTests.get)
            #expect(try c.readResponse().status == 200)
        }
    }

    @Test func peerClosing_afterARequest_stillGetsTheAnswer() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send(HTTPServerTests.get)
        client.shutdownWrite()
        #expect(try client.readResponse().status == 200)
        #expect(client.isClosedByPeer())
        #expect(eventually { server.server.openConnections == 0 })
    }

    @Test func drain_finishesTheRequestInFlight_closesIdle_andRefusesNew() throws {
        var config = Self.config()
        config.drainGrace = .milliseconds(300)
        let server = try TestServer(config) { router in
            router.onAsync("GET", "/slow") { _ in
                try? await Task.sleep(for: .milliseconds(200))
                return .json(200, #"{"slow":true}"#)
            }
        }
        // Kept alive after one answer: idle, closed at once.
        let idle = try server.client()
        try idle.send(HTTPServerTests.get)
        #expect(try idle.readResponse().status == 200)
        let busy = try server.client()
        try busy.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        // Accepted, nothing sent yet: their requests may be on the way, so they get the grace.
        let late = try server.client()
        let silent = try server.client()
        #expect(eventually { server.server.openConnections == 4 })
        #expect(busy.waitUntilServerRead())
        let began = ContinuousClock.now
        server.server.beginDrain()
        #expect(idle.isClosedByPeer())
        try late.send(HTTPServerTests.get)
        let answer = try late.readResponse()
        #expect(answer.status == 200 && answer.field("Connection") == "close")
        let r = try busy.readResponse()
        #expect(r.status == 200)
        #expect(r.field("Connection") == "close")
        #expect(silent.isClosedByPeer())
        #expect(ContinuousClock.now - began >= .milliseconds(250), "the silent one waited for the grace")
        #expect(eventually { server.server.isDrained })
        #expect(throws: (any Error).self) { _ = try server.client().readResponse() }
    }

    @Test func timeouts_runOnTheServersClock() throws {
        let clock = ManualClock()
        let server = try TestServer(Self.config(idle: 30), clock: clock)
        let client = try server.client()
        let get = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
        try client.send(get)
        #expect(try client.readResponse().status == 200)
        clock.advance(by: .seconds(29))
        server.server.wakeLoops()
        try client.send(get)
        #expect(try client.readResponse().status == 200, "29 s idle on a 30 s keep-alive: still open")
        clock.advance(by: .seconds(30))
        server.server.wakeLoops()
        #expect(client.isClosedByPeer(), "30 s after the last answer: closed")
    }

    @Test func connectionTokens_neverReachTheListenerFlag_norTheLoopsSourceBits() {
        // A connection's token is generation << 24 | fd; generations wrap below the listener
        // flag, or a loop's 2^23rd connection would read as a listener event. The loop keeps
        // the bits above 48 for the source's index and its wake-up.
        let highest = UInt64(HTTPLoopServer.generationMask) << 24 | 0xFF_FFFF
        #expect(highest & HTTPLoopServer.listenerFlag == 0)
        #expect(highest | HTTPLoopServer.listenerFlag < 1 << 48)
        #expect((HTTPLoopServer.generationMask &+ 1) & HTTPLoopServer.generationMask == 0, "the next generation after the last wraps to 0")
    }
}
