import Synchronization

/// What the endpoints of one sidecar share: settings, health, the cluster view, and the
/// registrar once the listeners are bound (our cluster URL needs the real port).
public final class SidecarContext: Sendable {
    public let configuration: SidecarConfiguration
    public let health: HealthState
    public let view: ClusterView
    public let startedAt: Double
    private let attached = Mutex<(registrar: Registrar?, me: ServerInfo?)>((nil, nil))

    public init(configuration: SidecarConfiguration, health: HealthState, view: ClusterView = ClusterView()) {
        self.configuration = configuration
        self.health = health
        self.view = view
        startedAt = MonotonicClock.now()
    }

    /// Sets our server and, with a registry, the registrar.
    public func attach(me: ServerInfo, registrar: Registrar?) {
        attached.withLock { $0 = (registrar, me) }
    }

    public var registrar: Registrar? { attached.withLock { $0.registrar } }
    public var me: ServerInfo? { attached.withLock { $0.me } }
}
