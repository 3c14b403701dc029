import Foundation
import SidecarTestSupport
import Testing

/// The operator's surface through the built binary: /metrics, /status, headers.
@Suite struct OperationsProcessTests {
    static func get(_ port: UInt16, _ path: String, _ fields: String = "") throws -> RawResponse {
        let client = try RawClient(port: port)
        try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(fields)\r\n")
        return try client.readResponse()
    }

    @Test func metrics_afterTraffic_listTheFamilies_withRoutePatternsOnly() throws {
        let (p, local, cluster) = try SidecarProcess.listening(["SERVER_URL": "http://127.0.0.1:9/app", "SERVER_TYPE": "echo"])
        defer { p.signal(SIGTERM); _ = p.waitForExit() }
        for path in ["/healthz", "/no/such/1", "/no/such/2", "/cluster/servers"] { _ = try Self.get(local, path) }
        _ = try Self.get(cluster, "/readyz")
        let r = try Self.get(local, "/metrics")
        #expect(r.status == 200)
        #expect(r.field("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(r.field("Cache-Control") == "no-store")
        let text = r.bodyText
        #expect(text.contains(#"cluster_sidecar_http_request_duration_seconds_count{listener="local",route="unmatched",method="GET",status="404"} 2"#))
        #expect(text.contains(#"cluster_sidecar_http_request_duration_seconds_count{listener="cluster",route="/readyz",method="GET",status="200"} 1"#))
        #expect(!text.contains("/no/such"))
        #expect(text.contains(#"cluster_sidecar_registration_state{state="disabled"} 1.0"#))
        #expect(text.contains("cluster_sidecar_cluster_servers 1.0"))
        #expect(text.contains("process_resident_memory_bytes "))
    }

    @Test func status_reportsTraffic_fanOuts_process_andVersion_uncached() throws {
        let (p, local, _) = try SidecarProcess.listening()
        defer { p.signal(SIGTERM); _ = p.waitForExit() }
        _ = try Self.get(local, "/nope")
        let r = try Self.get(local, "/status")
        #expect(r.field("Cache-Control") == "no-store")
        let body = try JSONSerialization.jsonObject(with: Data(r.body)) as! [String: Any]
        let traffic = body["traffic"] as! [[String: Any]]
        #expect(traffic.map { $0["listener"] as! String } == ["local", "cluster"])
        let requests = traffic[0]["requests"] as! [String: Int]
        #expect(requests["4xx"] == 1)
        #expect((traffic[0]["bytesIn"] as! Int) > 0)
        #expect((body["process"] as! [String: Any])["pid"] as? Int32 == p.process.processIdentifier)
        #expect(body["version"] is String)
        #expect((body["fanOut"] as! [String: Any])["count"] as? Int == 0)
        for probe in ["/healthz", "/readyz", "/ecv"] {
            #expect(try Self.get(local, probe).field("Cache-Control") == "no-store", "\(probe)")
        }
    }
}
