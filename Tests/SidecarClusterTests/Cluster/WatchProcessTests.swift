import Foundation
import SidecarTestSupport
import Testing

/// Blocking queries and event streams through the built binary, with changes pushed through
/// the cluster API as mIT and peers push them.
@Suite struct WatchProcessTests {
    static let token = JWTVerifierTests.signed(
        header: #"{"alg":"HS256","typ":"JWT"}"#, payload: #"{"exp":\#(Int(Date().timeIntervalSince1970) + 600),"cluster":true}"#)

    func sidecar(_ extra: [String: String] = [:]) throws -> (SidecarProcess, local: UInt16, cluster: UInt16) {
        var env = ["JWT_SECRET": SidecarProcess.testSecret, "SERVER_TYPE": "echo", "SERVER_URL": "http://127.0.0.1:9/app"]
        for (k, v) in extra { env[k] = v }
        return try SidecarProcess.listening(env)
    }

    func push(_ cluster: UInt16, _ id: String) throws -> Int {
        let body = #"{"id":"\#(id)","type":"echo","url":"http://127.0.0.1:7","clusterUrl":"http://127.0.0.1:7"}"#
        let client = try RawClient(port: cluster, timeout: 5)
        try client.send(
            "POST /itResources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        return try client.readResponse().status
    }

    /// A GET on the local API: status, `X-Cluster-Index`, body.
    func get(_ local: UInt16, _ target: String, headers: String = "") throws -> (status: Int, index: String?, body: String) {
        let client = try RawClient(port: local, timeout: 10)
        try client.send("GET \(target) HTTP/1.1\r\nHost: localhost\r\n\(headers)\r\n")
        let r = try client.readResponse()
        let index = r.fields.first { $0.0.lowercased() == "x-cluster-index" }?.1
        return (r.status, index, String(decoding: r.body, as: UTF8.self))
    }

    /// An event stream read with curl, line by line.
    final class Stream {
        let process = Process()
        let out = Pipe()
        var text = ""

        init(_ local: UInt16, lastEventID: String? = nil) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments =
                ["-sN", "http://127.0.0.1:\(local)/cluster/events"] + (lastEventID.map { ["-H", "Last-Event-ID: \($0)"] } ?? [])
            process.standardOutput = out
            try process.run()
        }

        deinit { process.terminate() }

        /// Reads until `needle` arrived (or `seconds` passed).
        func waitFor(_ needle: String, seconds: Double = 5) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while !text.contains(needle) && Date() < deadline {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            return text.contains(needle)
        }
    }

    @Test func aBlockingQuery_answersWhenTheViewChanges_withItsIndex() throws {
        let (p, local, cluster) = try sidecar()
        _ = p
        let now = try get(local, "/cluster/servers")
        let index = try #require(now.index.flatMap { UInt64($0) })
        #expect(try get(local, "/cluster/servers?index=\(index + 100)&wait=5s").index == "\(index)", "another index answers at once")
        let started = Date()
        let answered = Task { try get(local, "/cluster/servers?index=\(index)&wait=10s") }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try push(cluster, "p1") == 201)
        let r = try awaitResult(answered)
        #expect(r.status == 200 && r.index == "\(index + 1)" && r.body.contains(#""id":"p1""#))
        #expect(Date().timeIntervalSince(started) < 2)
        let waited = Date()
        #expect(try get(local, "/cluster/servers?index=\(index + 1)&wait=200ms").index == "\(index + 1)")
        #expect(Date().timeIntervalSince(waited) >= 0.2)
        #expect(try get(local, "/cluster/servers?index=x").status == 400)
    }

    @Test func anEventStream_startsWithTheView_thenCarriesEachChange_andResumes() throws {
        let (p, local, cluster) = try sidecar()
        _ = p
        let stream = try Stream(local)
        #expect(stream.waitFor("event: snapshot"))
        #expect(try push(cluster, "p1") == 201)
        #expect(stream.waitFor("event: server-added"))
        let client = try RawClient(port: cluster, timeout: 5)
        try client.send("DELETE /servers/p1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        #expect(stream.waitFor("event: server-removed"))
        let ids = stream.text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) }
        #expect(ids.count == 3)
        // Resumed after the first event: the two after it, no snapshot.
        let resumed = try Stream(local, lastEventID: ids[0])
        #expect(resumed.waitFor("event: server-removed"))
        #expect(!resumed.text.contains("snapshot") && resumed.text.contains("id: \(ids[1])"))
    }

    @Test func beyondMaxWatchers_503_andAStopEndsTheStreams() throws {
        let (p, local, _) = try sidecar(["MAX_WATCHERS": "1", "DRAIN_TIMEOUT": "20"])
        let stream = try Stream(local)
        #expect(stream.waitFor("event: snapshot"))
        let refused = try get(local, "/cluster/servers?index=0&wait=1s")
        #expect(refused.status == 503 && refused.body.contains("too_many_watchers"))
        let started = Date()
        p.signal(SIGTERM)
        #expect(p.waitForExit(timeout: 10) == 0)
        #expect(Date().timeIntervalSince(started) < 5, "an open stream must not hold the drain")
    }

    func awaitResult<T: Sendable>(_ task: Task<T, any Error>) throws -> T {
        let box = ResultBox<T>()
        Task { box.set(await task.result) }
        _ = eventually(15) { box.get() != nil }
        guard let result = box.get() else { throw TestFailure("no answer") }
        return try result.get()
    }
}

final class ResultBox<T: Sendable>: @unchecked Sendable {  // guarded by its lock
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ v: Result<T, any Error>) { lock.withLock { value = v } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}
