import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarServer
import SidecarSettings
import SidecarSupervisor
import Synchronization

/// What the endpoints of one sidecar share: settings, health, the cluster view, and the
/// registrar once the listeners are bound (our cluster URL needs the real port).
package final class SidecarContext: Sendable {
    package let configuration: SidecarConfiguration
    package let health: HealthState
    package let view: ClusterView
    /// The clock of uptime and of the lifecycle's timers.
    package let clock: any SidecarClock
    package let startedAt: MonotonicInstant
    /// The fan-out engine (nil: fan-out answers 503).
    package let fanOut: FanOut?
    /// The cluster API's token checks (replaced by a settings refresh).
    package let verifier: Refreshable<JWTVerifier>?
    /// The local API's bearer token, from `LOCAL_API_TOKEN` (replaced by a settings refresh).
    package let localToken: Refreshable<Secret?>
    /// Peer announcements after registration and before leaving.
    package let announcer: Announcer?
    /// Metrics, and the fan-out figures `/status` shows; pass it as the server's observer.
    package let metrics: SidecarMetrics
    /// Blocking queries and event streams open now, at most `MAX_WATCHERS`.
    package let watchers: WatcherGate
    private let attached = Mutex<(registrar: Registrar?, me: ServerInfo?)>((nil, nil))
    private let server = Mutex<HTTPServer?>(nil)
    private let supervision = Mutex<(supervisor: Supervisor, socket: String?)?>(nil)

    package init(
        configuration: SidecarConfiguration, health: HealthState, view: ClusterView = ClusterView(), fanOut: FanOut? = nil,
        verifier: JWTVerifier? = nil, announcer: Announcer? = nil, clock: any SidecarClock = SystemClock()
    ) {
        self.configuration = configuration
        self.health = health
        self.view = view
        self.fanOut = fanOut
        self.verifier = verifier.map { Refreshable($0) }
        localToken = Refreshable(configuration.localAPIToken)
        self.announcer = announcer
        self.clock = clock
        metrics = SidecarMetrics(loops: configuration.server.loopCount)
        watchers = WatcherGate(max: configuration.maxWatchers)
        startedAt = clock.now
    }

    /// Sets our server and, with a registry, the registrar.
    package func attach(me: ServerInfo, registrar: Registrar?) {
        attached.withLock { $0 = (registrar, me) }
    }

    /// Sets the server whose traffic `/status` and `/metrics` report.
    package func attach(server: HTTPServer) {
        self.server.withLock { $0 = server }
    }

    /// Under `cluster-sidecar run`: the supervisor of the application's workers, and the shared
    /// socket's address as status shows it.
    package func attach(supervisor: Supervisor, socket: String?) {
        supervision.withLock { $0 = (supervisor, socket) }
    }

    /// The supervisor (nil unless under `cluster-sidecar run`).
    package var supervisor: (supervisor: Supervisor, socket: String?)? { supervision.withLock { $0 } }

    /// The server's event loops (empty before it is attached and started).
    package var loops: [any Reactor] { server.withLock { $0 }?.reactors ?? [] }

    /// Each listener's traffic (empty before the server is attached).
    package func listenerStats() -> [ListenerStats] {
        server.withLock { $0 }?.listenerStats() ?? []
    }

    package var registrar: Registrar? { attached.withLock { $0.registrar } }
    package var me: ServerInfo? { attached.withLock { $0.me } }
}
