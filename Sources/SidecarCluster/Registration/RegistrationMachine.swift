import SidecarClient
import SidecarHTTP
import SidecarPosix

/// The registration lifecycle with mIT as a pure state machine: events in, actions out.
///
/// Time is a parameter (instants of the monotonic clock, spans as `Duration`), randomness a
/// seeded generator, so tests drive it with a manual clock. One call to mIT is in flight at a time; every call carries a sequence
/// number and an answer for any other number (or after shutdown began) changes nothing.
///
/// States and their legal moves:
/// - `waiting`: not started, or the application is not healthy yet → `registering` (start,
///   the application turning healthy, `registerNow`).
/// - `registering`: a registration is in flight or due → `registered` on success; stays on
///   failure, retrying every `retry` × [0.9, 1.0].
/// - `registered`: leases every `leaseTime` × [0.9, 1.0]; a lease 404 or `forgotten` →
///   `registering` at once with the same id; other lease failures retry at the registration pace.
/// - `unregistering` → `unregistered` (after `unregisterNow`) or `stopped` (after `shutdown`).
/// - `unregistered`: idle until `registerNow`.
/// - `stopped`: final.
package struct RegistrationMachine: Sendable {
    /// Timings and switches from the configuration.
    package struct Settings: Sendable, Equatable {
        package var retry: Duration
        package var concurrentDelay: Duration
        package var leaseTimeDefault: Duration
        package var clusterManagement: Bool
        /// `SERVER_ID`: the id to register with until mIT gives one.
        package var fixedID: String?

        package init(
            retry: Duration = .seconds(10), concurrentDelay: Duration = .seconds(60), leaseTimeDefault: Duration = .seconds(7200),
            clusterManagement: Bool = true, fixedID: String? = nil
        ) {
            self.retry = retry
            self.concurrentDelay = concurrentDelay
            self.leaseTimeDefault = leaseTimeDefault
            self.clusterManagement = clusterManagement
            self.fixedID = fixedID
        }
    }

    package enum Status: String, Sendable, Equatable, CaseIterable {
        case waiting, registering, registered, unregistering, unregistered, stopped
    }

    /// What the runner must do.
    package enum Action: Sendable, Equatable {
        /// `POST /servers`; `concurrent` marks the one extra registration after the first.
        case register(seq: Int, id: String?, concurrent: Bool)
        /// `PUT /servers/{id}/lease`.
        case renewLease(seq: Int, id: String)
        /// `DELETE /servers/{id}`.
        case unregister(seq: Int, id: String)
        /// Fan our server out to the peers (`POST /itResources`), after a registration.
        case announce
        /// Call `tick` at this time (replaces any earlier wake-up); nil: no wake-up needed.
        case wakeAt(MonotonicInstant?)
        /// Shutdown is complete.
        case finished
    }

    /// How a registration or lease call ended.
    package enum Outcome: Sendable, Equatable {
        case registered(id: String, leaseTime: Duration?)
        case leased(leaseTime: Duration?)
        /// A lease answered 404: mIT forgot us.
        case notFound
        /// Connect error, timeout, 5xx, 408, 429, or another 4xx.
        case failed
        case unregistered
    }

    package let settings: Settings
    package private(set) var status: Status = .waiting
    package private(set) var serverID: String?
    package private(set) var leaseTime: Duration
    package private(set) var lastRegistered: MonotonicInstant?
    package private(set) var lastLeased: MonotonicInstant?
    package private(set) var failures = 0
    /// Calls to mIT by kind and result, since start.
    package private(set) var counts = RegistrationStats()
    private var inFlight: (seq: Int, kind: CallKind)?
    private var seq = 0
    private var retryDue: MonotonicInstant?
    private var leaseDue: MonotonicInstant?
    private var concurrentDue: MonotonicInstant?
    private var concurrentDone = false
    private var stopping = false
    private var rng: SplitMix64

    private enum CallKind: Equatable {
        case register(concurrent: Bool)
        case lease, unregister
    }

    package init(settings: Settings, seed: UInt64) {
        self.settings = settings
        serverID = settings.fixedID
        leaseTime = settings.leaseTimeDefault
        rng = SplitMix64(seed: seed)
    }

    /// When the next lease is due, if one is scheduled.
    package var nextLease: MonotonicInstant? { leaseDue }

    // MARK: events

    /// Starts the lifecycle; registration waits while the application is not healthy.
    package mutating func start(now: MonotonicInstant, applicationHealthy: Bool) -> [Action] {
        guard status == .waiting, !stopping, applicationHealthy else { return [] }
        return beginRegistration(now: now)
    }

    /// The probed application turned healthy: registers if it was waiting for that.
    package mutating func applicationBecameHealthy(now: MonotonicInstant) -> [Action] {
        start(now: now, applicationHealthy: true)
    }

    /// `POST /register`: registers at once (again, if already registered).
    package mutating func registerNow(now: MonotonicInstant) -> [Action] {
        guard !stopping, status != .unregistering else { return [] }
        if inFlight != nil {
            retryDue = now  // after the call in flight
            return [wake()]
        }
        return beginRegistration(now: now)
    }

    /// mIT dropped us (deleteServer with our own id): registers again at once, keeping the id.
    package mutating func forgotten(now: MonotonicInstant) -> [Action] {
        guard status == .registered || status == .registering else { return [] }
        return registerNow(now: now)
    }

    /// `POST /unregister`: leaves mIT and stays out until `registerNow`.
    package mutating func unregisterNow(now: MonotonicInstant) -> [Action] {
        guard !stopping else { return [] }
        return leave(now: now)
    }

    /// SIGTERM/SIGINT: unregisters when registered, then `.finished`. Later answers change nothing.
    package mutating func shutdown(now: MonotonicInstant) -> [Action] {
        guard !stopping else { return [] }
        stopping = true
        return leave(now: now)
    }

    /// A timer fired: starts whatever call is due.
    package mutating func tick(now: MonotonicInstant) -> [Action] {
        guard inFlight == nil, !stopping else { return [wake()] }
        if let due = retryDue, due <= now {
            retryDue = nil
            return call(.register(concurrent: false), now: now)
        }
        if let due = leaseDue, due <= now, let id = serverID, status == .registered {
            leaseDue = nil
            return call(.lease, id: id, now: now)
        }
        if let due = concurrentDue, due <= now, status == .registered {
            concurrentDue = nil
            return call(.register(concurrent: true), now: now)
        }
        return [wake()]
    }

    /// The call `seq` ended with `outcome`.
    package mutating func answered(seq answered: Int, _ outcome: Outcome, now: MonotonicInstant) -> [Action] {
        guard let call = inFlight, call.seq == answered else { return [] }
        inFlight = nil
        if stopping {
            guard call.kind == .unregister else { return [] }
            status = .stopped
            return [.finished]
        }
        var actions: [Action] = []
        switch (call.kind, outcome) {
        case (.register(let concurrent), .registered(let id, let lease)):
            counts.registrationsOK += 1
            failures = 0
            serverID = id
            leaseTime = lease ?? settings.leaseTimeDefault
            status = .registered
            lastRegistered = now
            leaseDue = now + leaseTime * uniform(0.9, 1.0)
            if concurrent {
                concurrentDone = true
            } else if settings.clusterManagement && !concurrentDone && concurrentDue == nil {
                concurrentDue = now + settings.concurrentDelay
            }
            if settings.clusterManagement { actions.append(.announce) }
        case (.register(let concurrent), _):
            counts.registrationsFailed += 1
            failures += 1
            if concurrent {
                concurrentDue = now + settings.retry * uniform(0.9, 1.0)
            } else {
                status = .registering
                // An earlier due time (a `registerNow` during the call) stands.
                let due = now + settings.retry * uniform(0.9, 1.0)
                retryDue = min(retryDue ?? due, due)
            }
        case (.lease, .leased(let lease)):
            counts.renewalsOK += 1
            failures = 0
            lastLeased = now
            if let lease { leaseTime = lease }
            leaseDue = now + leaseTime * uniform(0.9, 1.0)
        case (.lease, .notFound):
            counts.renewalsFailed += 1
            leaseDue = nil
            return beginRegistration(now: now)
        case (.lease, _):
            counts.renewalsFailed += 1
            failures += 1
            leaseDue = now + settings.retry * uniform(0.9, 1.0)
        case (.unregister, _):
            status = .unregistered
        }
        actions.append(contentsOf: tick(now: now))
        return actions
    }

    // MARK: helpers

    private mutating func beginRegistration(now: MonotonicInstant) -> [Action] {
        status = .registering
        leaseDue = nil
        retryDue = nil
        return call(.register(concurrent: false), now: now)
    }

    private mutating func leave(now: MonotonicInstant) -> [Action] {
        retryDue = nil
        leaseDue = nil
        concurrentDue = nil
        guard let id = serverID, status == .registered || status == .registering || status == .unregistering else {
            status = stopping ? .stopped : .unregistered
            inFlight = nil
            return stopping ? [.wakeAt(nil), .finished] : [.wakeAt(nil)]
        }
        status = .unregistering
        return call(.unregister, id: id, now: now)
    }

    private mutating func call(_ kind: CallKind, id: String? = nil, now: MonotonicInstant) -> [Action] {
        seq += 1
        inFlight = (seq, kind)
        let action: Action
        switch kind {
        case .register(let concurrent): action = .register(seq: seq, id: serverID, concurrent: concurrent)
        case .lease: action = .renewLease(seq: seq, id: id!)
        case .unregister: action = .unregister(seq: seq, id: id!)
        }
        return [action, wake()]
    }

    /// The earliest pending due time (nothing while a call is in flight: its answer re-evaluates).
    private func wake() -> Action {
        guard inFlight == nil, !stopping else { return .wakeAt(nil) }
        return .wakeAt([retryDue, leaseDue, concurrentDue].compactMap { $0 }.min())
    }

    private mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(rng.next() >> 11) / Double(1 << 53)
    }
}

/// Calls to mIT since start, by kind and result.
package struct RegistrationStats: Sendable, Equatable, Codable {
    package var registrationsOK = 0
    package var registrationsFailed = 0
    package var renewalsOK = 0
    /// Lease renewals that failed, a 404 (mIT forgot us) included.
    package var renewalsFailed = 0

    package init() {}
}

/// A small seedable generator (SplitMix64) for jitter.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
