import Glibc
import Logging
import SidecarHTTP
import SidecarPosix
import Synchronization

/// The HTTP/1.1 server: listeners shared by one event loop per core.
///
/// `start()` binds every listener (so a taken port fails before anything runs), then starts
/// the loops on threads of their own, each hosting an `HTTPLoopServer`. `beginDrain()` stops
/// accepting, closes idle connections and lets requests in flight finish; `isDrained` turns
/// true when none is left. Every listener's router runs `CorrelationMiddleware` first, then
/// the middleware given here, then its own.
package final class HTTPServer: Sendable {
    private let configuration: ServerConfiguration
    private let specs: [ListenerSpec]
    private let logger: Logger
    private let middleware: [any Middleware]
    private let clock: any SidecarClock
    private let observer: (any RequestObserver)?
    private let state = Mutex<(shared: ServerShared?, loops: [(loop: EventLoop, server: HTTPLoopServer)])>((nil, []))

    /// A server for `listeners`; nothing is bound until `start()`.
    /// - Parameter middleware: around every route of every listener, after the correlation id
    ///   (e.g. `AccessLogMiddleware`), outermost first.
    /// - Parameter clock: the time of the connections' timeouts.
    /// - Parameter observer: told of every answer on the loop that wrote it (metrics), with its
    ///   duration on the real monotonic clock.
    package init(
        configuration: ServerConfiguration, listeners: [ListenerSpec], logger: Logger, middleware: [any Middleware] = [],
        clock: any SidecarClock = SystemClock(), observer: (any RequestObserver)? = nil
    ) {
        self.clock = clock
        self.observer = observer
        self.configuration = configuration
        self.specs = listeners
        self.logger = logger
        self.middleware = middleware
    }

    /// Binds every listener and starts the loops; returns the bound addresses in order
    /// (with the real port when 0 was asked for).
    @discardableResult
    package func start() throws(ServerStartError) -> [SocketAddress] {
        var bound: [ServerShared.Listener] = []
        for spec in specs {
            do throws(SystemError) {
                let (fd, port) =
                    if let inherited = spec.inherited {
                        try Socket.adoptListener(inherited)
                    } else {
                        try Socket.listen(on: spec.address, backlog: configuration.backlog)
                    }
                bound.append(
                    .init(
                        name: spec.name, fd: fd, address: spec.address.with(port: port), router: prepare(spec.router), tls: spec.tls,
                        openPaths: spec.openPaths))
            } catch {
                for listener in bound { Glibc.close(listener.fd) }
                throw ServerStartError(listener: spec.name, address: spec.address, underlying: error)
            }
        }
        let count = configuration.loopCount
        let shared = ServerShared(configuration: configuration, listeners: bound, loops: count, logger: logger, observer: observer)
        observer?.serverStarted(loops: count, listeners: bound.map { ($0.name, $0.router.routePatterns) })
        var loops: [(EventLoop, HTTPLoopServer)] = []
        for id in 0..<count {
            do {
                let loop = try EventLoop(id: id, clock: clock)
                loops.append((loop, HTTPLoopServer(loop: loop, shared: shared)))
            } catch {
                for listener in bound { Glibc.close(listener.fd) }
                throw ServerStartError(listener: "event loop", address: bound[0].address, underlying: error)
            }
        }
        for (loop, _) in loops { loop.start() }
        state.withLock { $0 = (shared, loops) }
        return bound.map(\.address)
    }

    private func prepare(_ router: Router) -> Router {
        router.prepared(outer: [CorrelationMiddleware()] + middleware)
    }

    /// Stops accepting, closes idle connections; answers in flight go out with `Connection: close`.
    package func beginDrain() {
        let (shared, loops) = state.withLock { ($0.shared, $0.loops) }
        guard let shared, !shared.draining.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for (loop, server) in loops { loop.execute { server.drain() } }
    }

    /// Wakes every loop so that it reads its clock again (tests moving a manual clock).
    func wakeLoops() {
        for (loop, _) in state.withLock({ $0.loops }) { loop.execute {} }
    }

    /// Closes every connection and listener and ends the loops' threads.
    package func stop() {
        let loops = state.withLock { s in
            defer { s.loops = [] }
            return s.loops
        }
        for (loop, _) in loops { loop.stop() }
    }

    /// The running loops, in order (empty before `start` and after `stop`).
    package var reactors: [any Reactor] { state.withLock { $0.loops.map { $0.loop } } }

    /// Open connections across all loops.
    package var openConnections: Int {
        state.withLock { $0.shared?.connections.load(ordering: .relaxed) ?? 0 }
    }

    /// Connections accepted since start.
    package var acceptedConnections: Int {
        state.withLock { $0.shared?.accepted.load(ordering: .relaxed) ?? 0 }
    }

    /// Each listener's stats since start (empty before `start()`).
    package func listenerStats() -> [ListenerStats] {
        state.withLock { $0.shared }?.trafficByListener() ?? []
    }

    /// Connections closed at once because `maxConnections` was reached.
    package var rejectedConnections: Int {
        state.withLock { $0.shared?.rejected.load(ordering: .relaxed) ?? 0 }
    }

    /// Returns once draining began and every connection is closed (at once when the server
    /// never started), or when the calling task is cancelled.
    package func drained() async {
        guard let shared = state.withLock({ $0.shared }) else { return }
        await shared.waitUntilDrained()
    }

    /// True once draining began and every connection is closed.
    package var isDrained: Bool {
        state.withLock { $0.shared?.isDrained ?? true }
    }
}
