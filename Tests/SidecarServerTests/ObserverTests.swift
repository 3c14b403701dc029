import SidecarPosix
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarHTTP
@testable import SidecarServer

/// The server's metrics hook and traffic counters, through a real socket.
@Suite struct ObserverTests {
    final class Observed: RequestObserver {
        let seen = Mutex<[String]>([])
        let routes = Mutex<[String]>([])
        func serverStarted(loops: Int, listeners: [(name: String, routes: [String])]) {
            routes.withLock { $0 = listeners[0].routes }
        }
        func answered(_ r: AnsweredRequest) {
            let pattern = r.route == AnsweredRequest.refused ? "refused" : routes.withLock { $0[r.route] }
            seen.withLock { $0.append("\(pattern) \(r.method.text) \(r.status)") }
        }
    }

    @Test func observer_seesRoutePatterns_unmatched_405_refusals_andLaterAnswers_withBoundedLabels() throws {
        let observed = Observed()
        var router = Router()
        router.on("GET", "/servers/{id}") { _ in HTTPResponse(status: 200) }
        router.onAsync("POST", "/later") { _ in HTTPResponse(status: 202) }
        let server = try TestServer(router: router, observer: observed)
        let client = try server.client()
        for line in ["GET /servers/a1", "GET /servers/b2", "POST /later", "GET /nowhere/123", "DELETE /servers/a1", "PROPFIND /servers/a1"]
        {
            try client.send("\(line) HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            _ = try client.readResponse()
        }
        try client.send("BREW /x HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try client.readResponse().status == 501)
        #expect(eventually { observed.seen.withLock { $0.count } == 7 })
        #expect(
            observed.seen.withLock { $0 } == [
                "/servers/{id} GET 200", "/servers/{id} GET 200", "/later POST 202", "unmatched GET 404", "/servers/{id} DELETE 405",
                "/servers/{id} other 405", "refused other 501",
            ])
    }

    @Test func traffic_countsConnections_answersByClass_andBytesBothWays() throws {
        let server = try TestServer()
        var sent = 0
        var received = 0
        do {
            let client = try server.client()
            for path in ["/healthz", "/missing"] {
                let request = "GET \(path) HTTP/1.1\r\nHost: h\r\n\r\n"
                try client.send(request)
                sent += request.utf8.count
                received += try client.readResponse().wireSize
            }
            // The server counts bytes out just after the write that the client already read.
            #expect(eventually { server.server.listenerStats()[0].bytesOut == received })
            let t = server.server.listenerStats()[0]
            #expect(t.listener == "local" && t.openConnections == 1 && t.totalConnections == 1)
            #expect(t.requests["2xx"] == 1 && t.requests["4xx"] == 1 && t.requests["5xx"] == 0)
            #expect(t.bytesIn == sent && t.bytesOut == received)
        }
        #expect(eventually { server.server.listenerStats()[0].openConnections == 0 })
    }
}
