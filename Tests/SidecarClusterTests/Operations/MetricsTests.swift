import Foundation
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarTestSupport
import Testing

@testable import SidecarCluster

/// The Prometheus families: recorded on answers, read at scrape, bounded labels.
@Suite struct MetricsTests {
    static func sources(traffic: [ListenerStats] = [], servers: Int = 0, joins: Int = 0, renewals: Int = 0) -> SidecarMetrics.Sources {
        var counts = RegistrationStats()
        counts.renewalsOK = renewals
        return .init(
            traffic: traffic, clusterServers: servers, registrationState: "registered", registrations: counts,
            membership: .init(joins: joins, leaves: 0), process: ProcessStats.read())
    }

    static func text(_ metrics: SidecarMetrics, _ sources: SidecarMetrics.Sources) -> String {
        String(decoding: metrics.exposition(sources), as: UTF8.self)
    }

    @Test func answers_areRecordedByRoutePattern_neverByRawPath() {
        let metrics = SidecarMetrics(loops: 2)
        metrics.serverStarted(loops: 2, listeners: [("local", ["unmatched", "/servers/{id}"]), ("cluster", ["unmatched"])])
        for (loop, route, status) in [(0, 1, 200), (1, 1, 200), (0, 0, 404), (1, AnsweredRequest.refused, 400)] {
            metrics.answered(AnsweredRequest(loop: loop, listener: 0, route: route, method: .get, status: status, nanoseconds: 300_000))
        }
        metrics.answered(AnsweredRequest(loop: 0, listener: 1, route: 0, method: .other, status: 404, nanoseconds: 3_000_000))
        let text = Self.text(metrics, Self.sources())
        #expect(
            text.contains(
                #"cluster_sidecar_http_request_duration_seconds_count{listener="local",route="/servers/{id}",method="GET",status="200"} 2"#)
        )
        #expect(
            text.contains(
                #"cluster_sidecar_http_request_duration_seconds_count{listener="local",route="unmatched",method="GET",status="404"} 1"#))
        #expect(
            text.contains(
                #"cluster_sidecar_http_request_duration_seconds_count{listener="local",route="refused",method="GET",status="400"} 1"#))
        #expect(
            text.contains(
                #"cluster_sidecar_http_request_duration_seconds_bucket{listener="cluster",route="unmatched",method="other",status="404",le="0.0025"} 0"#
            ))
        #expect(
            text.contains(
                #"cluster_sidecar_http_request_duration_seconds_bucket{listener="cluster",route="unmatched",method="other",status="404",le="0.005"} 1"#
            ))
    }

    @Test func scrapedCounters_growByWhatTheSourceGained_andEveryFamilyIsListed() {
        let metrics = SidecarMetrics(loops: 1)
        let traffic = ListenerStats(listener: "local", openConnections: 2, totalConnections: 7, requests: [:], bytesIn: 0, bytesOut: 0)
        _ = Self.text(metrics, Self.sources(traffic: [traffic], servers: 3, joins: 3, renewals: 1))
        let text = Self.text(metrics, Self.sources(traffic: [traffic], servers: 3, joins: 4, renewals: 2))
        #expect(text.contains(#"cluster_sidecar_connections_total{listener="local"} 7"#))
        #expect(text.contains(#"cluster_sidecar_connections_open{listener="local"} 2.0"#))
        #expect(text.contains(#"cluster_sidecar_membership_changes_total{kind="join"} 4"#))
        #expect(text.contains(#"cluster_sidecar_lease_renewals_total{result="ok"} 2"#))
        #expect(text.contains(#"cluster_sidecar_registration_state{state="registered"} 1.0"#))
        #expect(text.contains(#"cluster_sidecar_registration_state{state="waiting"} 0.0"#))
        #expect(text.contains("cluster_sidecar_cluster_servers 3.0"))
        for family in [
            "cluster_sidecar_fanout_duration_seconds histogram", "cluster_sidecar_fanout_nodes_total counter",
            "cluster_sidecar_fanout_node_failures_total counter", "cluster_sidecar_registrations_total counter",
            "process_cpu_seconds_total counter", "process_resident_memory_bytes gauge", "process_open_fds gauge",
            "process_max_fds gauge", "process_start_time_seconds gauge",
        ] {
            #expect(text.contains("# TYPE \(family)"), "\(family) missing")
        }
        #expect(text.contains(#"cluster_sidecar_fanout_node_failures_total{code="http_status"} 0"#))
    }

    @Test func fanOuts_countNodesAndFailuresByCode() {
        let metrics = SidecarMetrics(loops: 1)
        let server = ServerInfo(id: "a", type: "t", url: "http://a", clusterUrl: "http://a")
        let result = FanOutResult(
            servers: [server, server, server],
            outcomes: [
                .answered(ClientResponse(status: 200, headers: HTTPFields(), body: [], duration: .zero)),
                .answered(ClientResponse(status: 500, headers: HTTPFields(), body: [], duration: .zero)), .failed(.timeout),
            ])
        metrics.fanOutFinished(result, duration: .milliseconds(7))
        let snapshot = metrics.fanOuts.snapshot()
        #expect(snapshot.count == 1 && snapshot.nodes == 3)
        #expect(snapshot.failures["timeout"] == 1 && snapshot.failures["http_status"] == 1 && snapshot.failures["connect"] == 0)
        let text = Self.text(metrics, Self.sources())
        #expect(text.contains("cluster_sidecar_fanout_nodes_total 3"))
        #expect(text.contains(#"cluster_sidecar_fanout_node_failures_total{code="timeout"} 1"#))
        #expect(text.contains("cluster_sidecar_fanout_duration_seconds_count 1"))
    }

    @Test func processStats_readTheBootTimeAndThisProcess() {
        #expect(ProcessStats.parseBootTime("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n") == 1_700_000_000)
        let me = ProcessStats.read()
        #expect(me.residentBytes > 1 << 20 && me.openFDs > 2 && me.maxFDs >= me.openFDs && me.startTime > 1_700_000_000)
    }

    @Test func clusterView_countsJoinsAndLeaves() {
        let view = ClusterView(now: { 1 })
        func s(_ id: String) -> ServerInfo { ServerInfo(id: id, type: "t", url: "http://\(id)", clusterUrl: "http://\(id)") }
        view.replace(with: [s("a"), s("b")])
        view.upsert(s("b"))
        view.upsert(s("c"))
        view.remove("a")
        view.replace(with: [s("c"), s("d")])
        #expect(view.snapshot().changes == .init(joins: 4, leaves: 2))
    }
}
