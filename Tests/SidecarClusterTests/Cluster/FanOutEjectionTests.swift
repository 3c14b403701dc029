import Foundation
import Glibc
import SidecarTestSupport
import Testing

@testable import SidecarCluster
@testable import SidecarPosix

/// Outlier ejection through the local API: a node that timed out is left out of the next
/// fan-outs at once, listed with code `ejected`, while the others still answer.
@Suite(.serialized) struct FanOutEjectionTests {
    let base = FanOutTests()

    @Test func aNodeThatTimedOut_isEjected_andTheNextFanOutDoesNotWaitForIt() throws {
        let peers = try Peers(3)
        let silent = try StubServer { fd in
            StubServer.readHead(fd)
            usleep(1_500_000)  // a node that never answers in time
        }
        var servers = peers.servers()
        servers.insert(ServerInfo(id: "silent", type: "t", url: "http://127.0.0.1:\(silent.port)", clusterUrl: "http://127.0.0.1:1"), at: 1)
        let sidecar = try base.sidecar(servers)
        let body = #"{"url":"/ok","timeout":300}"#

        let started = MonotonicInstant(nanoseconds: csidecarMonotonic())
        let (status, first) = try base.fanout(sidecar, body)
        let firstTook = MonotonicInstant(nanoseconds: csidecarMonotonic()) - started
        #expect(status == 200)
        #expect(base.codes(first) == ["timeout"])
        #expect(firstTook >= .milliseconds(300))

        let again = MonotonicInstant(nanoseconds: csidecarMonotonic())
        let (_, second) = try base.fanout(sidecar, body)
        let secondTook = MonotonicInstant(nanoseconds: csidecarMonotonic()) - again
        #expect(base.ids(second["failures"]) == ["silent"])
        #expect(base.codes(second) == ["ejected"])
        #expect(base.ids(second["results"]) == ["n0", "n1", "n2"])
        #expect(secondTook < .milliseconds(250), "the ejected node costs no wait: \(secondTook)")
    }

    @Test func ejection_neverLeavesOutMoreThanTheEjectedPercent() throws {
        let peers = try Peers(1)
        var servers = peers.servers()
        for k in 0..<3 {
            servers.append(ServerInfo(id: "refused\(k)", type: "t", url: "http://127.0.0.1:\(1 + k)", clusterUrl: "http://127.0.0.1:1"))
        }
        let sidecar = try base.sidecar(servers)
        _ = try base.fanout(sidecar, #"{"url":"/ok"}"#)
        let (_, second) = try base.fanout(sidecar, #"{"url":"/ok"}"#)
        // Four nodes: at 50 %, two of the three refusing ones are left out, the third is tried.
        #expect(base.codes(second).sorted() == ["connect", "ejected", "ejected"])
    }
}

private func csidecarMonotonic() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}
