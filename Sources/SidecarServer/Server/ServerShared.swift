import Logging
import SidecarHTTP
import SidecarPosix
import SidecarTLS
import Synchronization

/// What every event loop of one server shares: settings, listeners and counters.
final class ServerShared: Sendable {
    struct Listener: Sendable {
        let name: String
        let fd: Int32
        let address: SocketAddress
        /// Prepared: correlation ids and the listener's middleware wrap every handler.
        let router: Router
        let tls: TLSListener?
        let openPaths: Set<String>
    }

    let configuration: ServerConfiguration
    let listeners: [Listener]
    let logger: Logger
    /// Open connections across loops.
    let connections = Atomic<Int>(0)
    /// Connections accepted since start (limit refusals included).
    let accepted = Atomic<Int>(0)
    /// Connections closed at once because the limit was reached.
    let rejected = Atomic<Int>(0)
    let draining = Atomic<Bool>(false)
    /// Traffic counters by loop, then by listener: each loop adds only to its own.
    let stats: [[ListenerStatsCell]]
    /// Told of every answer (metrics); nil costs nothing.
    let observer: (any RequestObserver)?
    /// Loops that still have the listeners in their epoll set; the last one closes them.
    let loopsListening: Atomic<Int>

    /// Durations in nanoseconds, indexed by `TimerKind.rawValue`.
    let timeouts: [UInt64]

    init(
        configuration: ServerConfiguration, listeners: [Listener], loops: Int, logger: Logger, observer: (any RequestObserver)?
    ) {
        self.configuration = configuration
        self.observer = observer
        stats = (0..<loops).map { _ in listeners.map { _ in ListenerStatsCell() } }
        self.listeners = listeners
        self.logger = logger
        self.loopsListening = Atomic(loops)
        func ns(_ d: Duration) -> UInt64 { UInt64(max(0, d.nanoseconds)) }
        var t = [UInt64](repeating: 0, count: TimerKind.allCases.count)
        t[TimerKind.header.rawValue] = ns(configuration.headerTimeout)
        t[TimerKind.idle.rawValue] = ns(configuration.keepAliveTimeout)
        t[TimerKind.body.rawValue] = ns(configuration.bodyTimeout)
        t[TimerKind.send.rawValue] = ns(configuration.sendTimeout)
        t[TimerKind.linger.rawValue] = ns(configuration.lingerTimeout)
        t[TimerKind.drainGrace.rawValue] = ns(min(configuration.drainGrace, configuration.headerTimeout))
        timeouts = t
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Each listener's stats, summed over the loops.
    func trafficByListener() -> [ListenerStats] {
        listeners.indices.map { k in ListenerStatsCell.total(stats.map { $0[k] }, listener: listeners[k].name) }
    }

    /// Tasks waiting for the drain to end, by a number of their own.
    private let drainWaiters = Mutex<(next: Int, waiting: [Int: CheckedContinuation<Void, Never>])>((0, [:]))

    /// Draining began and every connection is closed.
    var isDrained: Bool { isDraining && connections.load(ordering: .relaxed) == 0 }

    /// A connection closed (any loop): wakes the drain's waiters when it was the last one.
    func connectionClosed() {
        guard connections.subtract(1, ordering: .relaxed).newValue == 0, isDraining else { return }
        notifyIfDrained()
    }

    func notifyIfDrained() {
        let ready = drainWaiters.withLock { w -> [CheckedContinuation<Void, Never>] in
            guard isDrained else { return [] }
            defer { w.waiting.removeAll() }
            return Array(w.waiting.values)
        }
        for c in ready { c.resume() }
    }

    /// Returns once draining began and every connection is closed, or when the task is cancelled.
    func waitUntilDrained() async {
        let id = drainWaiters.withLock { w -> Int in
            w.next += 1
            return w.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = drainWaiters.withLock { w -> Bool in
                    if isDrained || Task.isCancelled { return true }
                    w.waiting[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            drainWaiters.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }
}
