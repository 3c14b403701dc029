import Foundation
import Glibc
import SidecarTestSupport
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix

/// `FANOUT_MAX_BUFFERED_BYTES`: while the answers held by fan-outs in flight fill the budget,
/// a new fan-out is refused at once; once they are answered, the budget is whole again.
@Suite(.serialized) struct FanOutBudgetTests {
    @Test func heldAnswersOverTheBudget_refuseNewFanOuts_untilAnswered() throws {
        // One node answers at once with 4 KiB of control bytes (24 KiB once escaped, twice);
        // the other holds the fan-out open for a while.
        let fast = try StubServer { fd in
            while StubServer.nextHead(fd) != nil {
                StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + String(repeating: "\u{1}", count: 4096))
            }
        }
        let slow = try StubServer { fd in
            while StubServer.nextHead(fd) != nil {
                usleep(600_000)
                StubServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            }
        }
        let fanOut = FanOut(
            settings: .init(concurrency: 8, timeout: .seconds(5), maxResponseBytes: 1 << 20, maxBufferedBytes: 32_768), tokens: nil)
        let context = SidecarContext(configuration: SidecarConfiguration(), health: HealthState(registered: true), fanOut: fanOut)
        context.view.replace(with: [
            ServerInfo(id: "fast", type: "t", url: "http://127.0.0.1:\(fast.port)", clusterUrl: "http://127.0.0.1:1"),
            ServerInfo(id: "slow", type: "t", url: "http://127.0.0.1:\(slow.port)", clusterUrl: "http://127.0.0.1:1"),
        ])
        context.attach(me: ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"), registrar: nil)
        let sidecar = try TestServer(router: SidecarRoutes.local(context: context))
        let body = #"{"url":"/x"}"#
        let request = "POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"

        let first = try sidecar.client(timeout: 5)
        try first.send(request)
        #expect(eventually { fanOut.budget.current > 32_768 }, "the fast node's answer is held while the slow one runs")
        let second = try sidecar.client()
        try second.send(request)
        let refused = try second.readResponse()
        #expect(refused.status == 503 && refused.field("Retry-After") == "1")
        #expect(refused.bodyText.contains("fanout_overloaded") && refused.bodyText.contains("FANOUT_MAX_BUFFERED_BYTES"))
        #expect(try first.readResponse().status == 200)
        #expect(eventually { fanOut.budget.current == 0 }, "every answer let go once the aggregate was written")
        try second.send(request)
        #expect(try second.readResponse().status == 200)
        #expect(fanOut.budget.current == 0)
    }
}

extension FanOutBudgetTests {
    /// A sidecar over `servers` whose fan-outs share `fanOut`.
    func sidecar(_ fanOut: FanOut, _ servers: [ServerInfo]) throws -> TestServer {
        let context = SidecarContext(configuration: SidecarConfiguration(), health: HealthState(registered: true), fanOut: fanOut)
        context.view.replace(with: servers)
        context.attach(me: ServerInfo(id: "me", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1"), registrar: nil)
        return try TestServer(router: SidecarRoutes.local(context: context))
    }

    @Test func aSlowReadersStreamedLines_countUntilSent_andAreLetGoWhenItGoes() throws {
        let peers = try Peers(16)
        let fanOut = FanOut(settings: .init(concurrency: 64, timeout: .seconds(5), maxResponseBytes: 1 << 20), tokens: nil)
        let sidecar = try sidecar(fanOut, peers.servers())
        let body = #"{"url":"/big"}"#
        let request =
            "POST /cluster/fanout HTTP/1.1\r\nHost: localhost\r\nAccept: application/x-ndjson\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        // A caller that reads nothing: 16 lines of 200 kB wait, counted.
        do {
            let idle = try sidecar.client()
            var small: Int32 = 4096
            setsockopt(idle.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            try idle.send(request)
            #expect(eventually { fanOut.budget.current > 1_000_000 }, "\(fanOut.budget.current)")
        }
        #expect(eventually { fanOut.budget.current == 0 }, "its lines are let go once it has gone: \(fanOut.budget.current)")
        // A caller that reads: everything is let go by the end.
        let reader = try sidecar.client()
        try reader.send(request)
        #expect(try reader.readResponse().bodyText.hasSuffix(#""failures":0}}"# + "\n"))
        #expect(eventually { fanOut.budget.current == 0 }, "\(fanOut.budget.current)")
    }
}
