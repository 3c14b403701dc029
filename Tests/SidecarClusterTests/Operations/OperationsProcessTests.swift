import Foundation
import SidecarTestSupport
import Testing

/// The operator's surface through the built binary: /metrics, /status, headers.
@Suite struct OperationsProcessTests {
    static func get(_ port: UInt16, _ path: String, _ fields: String = "") throws -> RawResponse {
        let client = try RawClient(port: port)
        try client.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\(fields)\r\n")
        return try client.readResponse()
    }

    @Test func metrics_afterTraffic_listTheFamilies_withRoutePatternsOnly() throws {
        let (p, local, cluster) = try SidecarProcess.listening(["SERVER_URL": "http://127.0.0.1:9/app", "SERVER_TYPE": "echo"])
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit()
        }
        for path in ["/healthz", "/no/such/1", "/no/such/2", "/cluster/servers"] { _ = try Self.get(local, path) }
        _ = try Self.get(cluster, "/readyz")
        let r = try Self.get(local, "/metrics")
        #expect(r.status == 200)
        #expect(r.field("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(r.field("Cache-Control") == "no-store")
        let text = r.bodyText
        #expect(
            text.contains(
                #"cluster_sidecar_http_request_duration_seconds_count{listener="local",route="unmatched",method="GET",status="404"} 2"#))
        #expect(
            text.contains(
                #"cluster_sidecar_http_request_duration_seconds_count{listener="cluster",route="/readyz",method="GET",status="200"} 1"#))
        #expect(!text.contains("/no/such"))
        #expect(text.contains(#"cluster_sidecar_registration_state{state="disabled"} 1.0"#))
        #expect(text.contains("cluster_sidecar_cluster_servers 1.0"))
        #expect(text.contains("process_resident_memory_bytes "))
    }

    @Test func status_reportsTraffic_fanOuts_process_andVersion_uncached() throws {
        let (p, local, _) = try SidecarProcess.listening()
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit()
        }
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

    @Test func statusCommand_printsTables_orJSON_withTheSidecarsOwnSettings() throws {
        let (p, local, _) = try SidecarProcess.listening([
            "SERVER_URL": "http://127.0.0.1:9/app", "SERVER_TYPE": "echo", "LOCAL_API_TOKEN": "tok-1",
        ])
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit()
        }
        let refused = try SidecarProcess.run(["status", "--local-port", "\(local)"])
        #expect(refused.status == 1 && refused.err.contains("401") && refused.err.split(separator: "\n").count == 1)
        let tables = try SidecarProcess.run(["status", "--local-port", "\(local)", "--local-api-token", "tok-1"])
        #expect(tables.status == 0)
        #expect(tables.out.contains("REGISTRATION") && tables.out.contains("disabled"))
        #expect(tables.out.contains("self  echo  http://127.0.0.1:9/app"))
        #expect(tables.out.contains("LISTENER") && tables.out.contains("cluster "))
        let json = try SidecarProcess.run(["status", "--json"], environment: ["LOCAL_PORT": "\(local)", "LOCAL_API_TOKEN": "tok-1"])
        let body = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        #expect(body?["REGISTRATION_STATUS"] as? String == "disabled")
    }

    @Test func healthCommand_exits0_or1WithOneLineSayingWhy() throws {
        let (p, local, _) = try SidecarProcess.listening(["LOCAL_API_TOKEN": "tok-2"])
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit()
        }
        #expect(try SidecarProcess.run(["health", "--local-port", "\(local)"]).status == 0)
        #expect(try SidecarProcess.run(["health", "--ready"], environment: ["LOCAL_PORT": "\(local)"]).status == 0)
        _ = try RawClient(port: local).send(
            "POST /ecv/disable HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tok-2\r\nContent-Length: 0\r\n\r\n")
        #expect(eventually { (try? Self.get(local, "/readyz").status) == 503 })
        let out = try SidecarProcess.run(["health", "--ready", "--local-port", "\(local)"])
        #expect(out.status == 1 && out.err == "cluster-sidecar: /readyz answered 503: switched out of rotation\n")
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
        let gone = try SidecarProcess.run(["health", "--local-port", "\(local)"])
        #expect(gone.status == 1 && gone.err.contains("unreachable at http://127.0.0.1:\(local)"))
        let bad = try SidecarProcess.run(["health", "--local-port", "abc"])
        #expect(bad.status == 64 && bad.err.contains("--local-port"))
    }

    /// The repository's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test func openAPIDocument_andStatusPage_areServedAsCommitted_withoutAToken() throws {
        let (p, local, _) = try SidecarProcess.listening(["LOCAL_API_TOKEN": "tok-3"])
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit()
        }
        for (path, file, type) in [
            ("/openapi.yaml", "openapi.yaml", "application/yaml; charset=utf-8"), ("/ui", "ui/status.html", "text/html; charset=utf-8"),
        ] {
            let r = try Self.get(local, path)
            #expect(r.status == 200)
            #expect(r.field("Content-Type") == type)
            let committed = try Data(contentsOf: Self.root.appendingPathComponent(file))
            // The build embeds them (resources in Package.swift): a change is in the next build.
            #expect(Data(r.body) == committed, "\(path) differs from \(file)")
        }
        #expect(try Self.get(local, "/status").status == 401)
    }

    @Test func pidFile_isWrittenOnceListening_andRemovedOnExit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-\(UUID().uuidString).pid").path
        let (p, _, _) = try SidecarProcess.listening(["PID_FILE": path])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == "\(p.process.processIdentifier)\n")
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
        let bad = try SidecarProcess.run(["--pid-file", "/nonexistent-dir/x.pid", "--local-port", "0", "--cluster-port", "0"])
        #expect(bad.status == 1 && bad.err.contains("PID_FILE: cannot write '/nonexistent-dir/x.pid'"))
    }

    @Test func clusterOfOne_listsItself_whenItHasAURL_andIsAlwaysDated() throws {
        for (env, expected) in [(["SERVER_URL": "http://127.0.0.1:9/app"], ["self standalone"]), ([:], [])] {
            let (p, local, _) = try SidecarProcess.listening(env)
            defer {
                p.signal(SIGTERM)
                _ = p.waitForExit()
            }
            let body = try JSONSerialization.jsonObject(with: Data(try Self.get(local, "/cluster/servers").body)) as! [String: Any]
            let servers = (body["servers"] as! [[String: Any]]).map { "\($0["id"]!) \($0["type"]!)" }
            #expect(servers == expected)
            #expect(body["updatedAt"] is String)
        }
    }
}
