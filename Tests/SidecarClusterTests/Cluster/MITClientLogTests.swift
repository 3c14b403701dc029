import Logging
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarSettings

/// Registry trouble is logged at warning with the URL and the reason, once when it starts or
/// changes, not at every retry; its end once, at info.
@Suite struct MITClientLogTests {
    /// Log lines as "level message".
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
        var logger: Logger {
            Logger(label: "test") { _ in Handler(lines: self) }
        }
        struct Handler: LogHandler {
            let lines: Lines
            var logLevel: Logger.Level = .trace
            var metadata: Logger.Metadata = [:]
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                let url = event.metadata?["mit.url"].map { " \($0)" } ?? ""
                lines.all.withLock { $0.append("\(event.level) \(event.message)\(url)") }
            }
        }
    }

    @Test func anOutage_isOneWarning_withTheURL_andItsEndOneInfo() async throws {
        let lines = Lines()
        let up = Mutex(false)
        let registry = try TestServer { router in
            router.on("POST", "/servers") { _ in
                up.withLock { $0 } ? .json(201, #"{"id":"a1"}"#) : .error(503, code: "busy", message: "down")
            }
        }
        let me = ServerInfo(id: "", type: "t", url: "http://127.0.0.1:1", clusterUrl: "http://127.0.0.1:1")
        let tokens = TokenProvider(source: .fixed(Secret("t")), client: TestClients.shared)
        let gone = MITClient(baseURL: "http://127.0.0.1:1", client: TestClients.shared, tokens: tokens, logger: lines.logger)
        for _ in 0..<3 { _ = await gone.register(id: nil, me: me, cluster: true) }
        let unreachable = lines.all.withLock { $0 }
        #expect(unreachable.filter { $0.hasPrefix("warning") } == ["warning mIT unreachable: connect http://127.0.0.1:1/servers"])
        #expect(unreachable.filter { $0.hasPrefix("debug") }.count == 2, "the retries: \(unreachable)")

        lines.all.withLock { $0 = [] }
        let mit = MITClient(baseURL: "http://127.0.0.1:\(registry.port)", client: TestClients.shared, tokens: tokens, logger: lines.logger)
        for _ in 0..<3 { _ = await mit.register(id: nil, me: me, cluster: true) }
        up.withLock { $0 = true }
        _ = await mit.register(id: nil, me: me, cluster: true)
        _ = await mit.register(id: nil, me: me, cluster: true)
        let outage = lines.all.withLock { $0 }.filter { !$0.hasPrefix("debug") }
        #expect(
            outage == [
                "warning registration failed: mIT answered 503 http://127.0.0.1:\(registry.port)",
                "info mIT answers again http://127.0.0.1:\(registry.port)",
            ])
    }
}
