import SidecarClient
import SidecarHTTP
import SidecarPosix
import Synchronization

/// What the health endpoints report, shared by the listeners and the lifecycle.
///
/// `/healthz`: the process lives. `/ecv`: in rotation (the traffic switch, and not draining).
/// `/readyz`: in rotation, registered (or running without a registry), and the application
/// healthy when it is probed.
public final class HealthState: Sendable {
    private let switchedOn = Atomic<Bool>(true)
    private let draining = Atomic<Bool>(false)
    private let registered = Atomic<Bool>(false)
    private let applicationHealthy = Atomic<Bool>(true)
    private let workersReady = Atomic<Bool>(true)

    /// - Parameter registered: the initial registration state (true without a registry).
    public init(registered: Bool) {
        self.registered.store(registered, ordering: .relaxed)
    }

    /// True while in load-balancer rotation: switched on, not shutting down, and (under
    /// `cluster-sidecar run`) some application worker ready.
    public var inRotation: Bool { switchedOn.load(ordering: .relaxed) && !draining.load(ordering: .relaxed) && hasReadyWorker }
    /// Under `cluster-sidecar run`, some worker is ready (always true otherwise).
    public var hasReadyWorker: Bool { workersReady.load(ordering: .relaxed) }
    public var isRegistered: Bool { registered.load(ordering: .relaxed) }
    public var isApplicationHealthy: Bool { applicationHealthy.load(ordering: .relaxed) }
    public var isDraining: Bool { draining.load(ordering: .relaxed) }
    public var isReady: Bool { inRotation && isRegistered && isApplicationHealthy }

    /// The traffic switch (`POST /ecv/enable`, `/ecv/disable`).
    public func setSwitch(_ on: Bool) { switchedOn.store(on, ordering: .relaxed) }
    public var isSwitchedOn: Bool { switchedOn.load(ordering: .relaxed) }
    /// Shutdown began: out of rotation for good.
    public func beginDraining() { draining.store(true, ordering: .relaxed) }
    public func setRegistered(_ value: Bool) { registered.store(value, ordering: .relaxed) }
    public func setApplicationHealthy(_ value: Bool) { applicationHealthy.store(value, ordering: .relaxed) }
    /// The supervisor's word: some worker is ready.
    public func setWorkersReady(_ value: Bool) { workersReady.store(value, ordering: .relaxed) }
}
