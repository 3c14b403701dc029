import Foundation
import Glibc
import Logging
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry
@testable import SidecarServer
@testable import SidecarSettings

/// Peer nodes on one in-process server (one listener each) that count what reaches them.
final class Peers: Sendable {
    final class Tally: Sendable {
        let counts: Mutex<[Int]>
        init(_ n: Int) { counts = Mutex([Int](repeating: 0, count: n)) }
        /// Adds one to slot `k`; returns the new count.
        @discardableResult
        func bump(_ k: Int) -> Int {
            counts.withLock {
                $0[k] += 1
                return $0[k]
            }
        }
        var total: Int { counts.withLock { $0.reduce(0, +) } }
    }

    let server: HTTPServer
    let ports: [UInt16]
    private let hits: Tally

    init(_ count: Int) throws {
        let hits = Tally(count)
        let flakyCalls = Tally(count)
        self.hits = hits
        var listeners: [ListenerSpec] = []
        for k in 0..<count {
            var r = Router()
            let count: @Sendable () -> Void = { hits.bump(k) }
            r.on("GET", "/ok") { _ in
                count()
                return .json(200, #"{"node":\#(k)}"#)
            }
            r.onAsync("GET", "/slow") { _ in
                count()
                try? await Task.sleep(for: .seconds(2))
                return .json(200, "{}")
            }
            r.on("GET", "/fail") { _ in
                count()
                return .json(500, #"{"error":"boom"}"#)
            }
            r.on("GET", "/text") { _ in
                count()
                return HTTPResponse(status: 200, fields: HTTPFields([("Content-Type", "text/plain")]), body: Array("hello".utf8))
            }
            r.on("GET", "/big") { _ in
                count()
                return HTTPResponse(status: 200, body: [UInt8](repeating: 0x61, count: 200_000))
            }
            for method in ["GET", "POST"] {
                r.on(method, "/headers") { request in
                    count()
                    var o: [String: String] = [:]
                    for f in request.fields { o[f.name.lowercased()] = f.value }
                    return .json(200, encoding: o)
                }
            }
            for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
                r.on(method, "/echo") { request in
                    count()
                    return .json(
                        200,
                        encoding: [
                            "method": request.method, "path": request.path, "query": request.query ?? "",
                            "body": String(decoding: request.body, as: UTF8.self),
                        ])
                }
            }
            r.on("GET", "/flaky") { _ in
                count()
                let n = flakyCalls.bump(k)
                return n == 1 ? .error(503, code: "busy", message: "try again") : .json(200, #"{"ok":true}"#)
            }
            r.on("POST", "/flaky") { _ in
                count()
                return .error(503, code: "busy", message: "try again")
            }
            listeners.append(ListenerSpec(name: "peer\(k)", address: SocketAddress(host: "127.0.0.1", port: 0)!, router: r))
        }
        var logger = Logger(label: "peers")
        logger.logLevel = .critical
        server = HTTPServer(configuration: ServerConfiguration(loops: 1), listeners: listeners, logger: logger)
        ports = try server.start().map(\.port)
    }

    deinit { server.stop() }

    var total: Int { hits.total }

    func servers(prefix: String = "n") -> [ServerInfo] {
        ports.enumerated().map {
            ServerInfo(id: "\(prefix)\($0.offset)", type: "t", url: "http://127.0.0.1:\($0.element)", clusterUrl: "http://127.0.0.1:1")
        }
    }
}
