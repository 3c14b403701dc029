import SidecarClient
import SidecarHTTP
import SidecarPosix
import Synchronization

/// What the health endpoints report, shared by the listeners and the lifecycle.
///
/// `/healthz`: the process lives. `/ecv`: in rotation (the traffic switch, and not draining).
/// `/readyz`: in rotation, registered (or running without a registry), and the application
/// healthy when it is probed.
package final class HealthState: Sendable {
    private let switchedOn = Atomic<Bool>(true)
    private let draining = Atomic<Bool>(false)
    private let registered = Atomic<Bool>(false)
    private let applicationHealthy = Atomic<Bool>(true)
    private let workersReady = Atomic<Bool>(true)

    /// - Parameter registered: the initial registration state (true without a registry).
    package init(registered: Bool) {
        self.registered.store(registered, ordering: .relaxed)
    }

    /// True while in load-balancer rotation: switched on, not shutting down, and (under
    /// `cluster-sidecar run`) some application worker ready.
    package var inRotation: Bool { switchedOn.load(ordering: .relaxed) && !draining.load(ordering: .relaxed) && hasReadyWorker }
    /// Under `cluster-sidecar run`, some worker is ready (always true otherwise).
    package var hasReadyWorker: Bool { workersReady.load(ordering: .relaxed) }
    package var isRegistered: Bool { registered.load(ordering: .relaxed) }
    package var isApplicationHealthy: Bool { applicationHealthy.load(ordering: .relaxed) }
    package var isDraining: Bool { draining.load(ordering: .relaxed) }
    package var isReady: Bool { inRotation && isRegistered && isApplicationHealthy }

    /// The traffic switch (`POST /ecv/enable`, `/ecv/disable`).
    package func setSwitch(_ on: Bool) { switchedOn.store(on, ordering: .relaxed) }
    package var isSwitchedOn: Bool { switchedOn.load(ordering: .relaxed) }
    /// Shutdown began: out of rotation for good.
    package func beginDraining() { draining.store(true, ordering: .relaxed) }
    package func setRegistered(_ value: Bool) { registered.store(value, ordering: .relaxed) }
    package func setApplicationHealthy(_ value: Bool) { applicationHealthy.store(value, ordering: .relaxed) }
    /// The supervisor's word: some worker is ready.
    package func setWorkersReady(_ value: Bool) { workersReady.store(value, ordering: .relaxed) }
}
