import Glibc
import Logging
import SidecarHTTP
import SidecarPosix
import SidecarServer
import Synchronization

/// An in-process server on 127.0.0.1 port 0 for the duration of a test.
package final class TestServer {
    package let server: HTTPServer
    package let port: UInt16

    /// Starts a server with `configuration` and the routes `build` adds (plus the probes and `POST /echo`).
    package convenience init(
        _ configuration: ServerConfiguration = ServerConfiguration(loops: 1), clock: any SidecarClock = SystemClock(),
        _ build: (inout Router) -> Void = { _ in }
    ) throws {
        var router = Router()
        // The liveness probe, answered as the sidecar answers it.
        let alive = HTTPResponse(
            status: 200, fields: HTTPFields([("Content-Type", "application/json")]), body: Array(#"{"status":"ok"}"#.utf8))
        router.on("GET", "/healthz") { _ in alive }
        router.on("POST", "/echo") { request in
            HTTPResponse(status: 200, fields: HTTPFields([("Content-Type", "application/octet-stream")]), body: request.body)
        }
        build(&router)
        try self.init(router: router, configuration, clock: clock)
    }

    /// Starts a server answering with `router` as is.
    package init(
        router: Router, _ configuration: ServerConfiguration = ServerConfiguration(loops: 1), clock: any SidecarClock = SystemClock(),
        observer: (any RequestObserver)? = nil
    ) throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        server = HTTPServer(
            configuration: configuration,
            listeners: [ListenerSpec(name: "local", address: SocketAddress(host: "127.0.0.1", port: 0)!, router: router)],
            logger: logger, clock: clock, observer: observer)
        port = try server.start()[0].port
    }

    deinit { server.stop() }

    package func client(timeout: Double = 5) throws -> RawClient { try RawClient(port: port, timeout: timeout) }
}

/// Polls `condition` every 5 ms for at most `seconds`.
package func eventually(_ seconds: Double = 3, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(5000)
    }
    return condition()
}

/// A count any thread may bump and read (what a test server saw, for tests to wait on).
package final class Counter: Sendable {
    private let count = Mutex(0)

    package init() {}

    /// Counts one more; returns the new count.
    @discardableResult
    package func add() -> Int {
        count.withLock {
            $0 += 1
            return $0
        }
    }

    package var value: Int { count.withLock { $0 } }
}
