import SidecarPosix
import SidecarHTTP
import SidecarClient
import Logging
import Synchronization

/// What `POST /register` and `POST /unregister` answer: `{nbServers, serverId, errors?}`.
public struct MembershipReport: Sendable, Codable, Equatable {
    /// One failure: a label and, for a peer, which one.
    public struct Failure: Sendable, Codable, Equatable {
        public var code: String
        public var message: String
        public var serverId: String?
    }

    public var nbServers: Int
    public var serverId: String?
    public var errors: [Failure]?
}

/// Drives `RegistrationMachine` with real time and real calls to mIT.
///
/// Calls run as tasks whose answers come back into the actor; one wake-up task sleeps until
/// the machine's next due time. `announce` and `leave` are the peer fan-outs of the
/// lifecycle (POST /itResources after a registration, DELETE /servers/{id} before leaving).
public actor Registrar {
    /// Fans our server out to peers; returns the failures.
    public typealias PeerCall = @Sendable (_ me: ServerInfo, _ peers: [ServerInfo]) async -> [MembershipReport.Failure]

    private var machine: RegistrationMachine
    private let mit: MITClient
    private var me: ServerInfo
    private let view: ClusterView
    private let health: HealthState
    private let logger: Logger
    private let announce: PeerCall?
    private let leave: PeerCall?
    private var wakeTask: Task<Void, Never>?
    private var registerWaiters: [CheckedContinuation<MembershipReport, Never>] = []
    private var unregisterWaiters: [CheckedContinuation<MembershipReport, Never>] = []
    private var finishWaiters: [CheckedContinuation<Void, Never>] = []
    private var lastErrors: [MembershipReport.Failure] = []
    /// Our server id as mIT knows it, readable without awaiting the actor (fan-out's fast path).
    public nonisolated let currentID = Mutex<String?>(nil)
    private var lastError: String?

    /// - Parameter me: our server; `id` is replaced by mIT's answer.
    public init(
        settings: RegistrationMachine.Settings, mit: MITClient, me: ServerInfo, view: ClusterView, health: HealthState,
        logger: Logger, announce: PeerCall? = nil, leave: PeerCall? = nil, seed: UInt64 = UInt64.random(in: 0...UInt64.max)
    ) {
        machine = RegistrationMachine(settings: settings, seed: seed)
        currentID.withLock { $0 = settings.fixedID }
        self.mit = mit
        self.me = me
        self.view = view
        self.health = health
        self.logger = logger
        self.announce = announce
        self.leave = leave
    }

    /// Starts the lifecycle (registration waits while the application is unhealthy).
    public func start() {
        perform(machine.start(now: MonotonicClock.now(), applicationHealthy: health.isApplicationHealthy))
    }

    /// The probed application changed state.
    public func applicationHealth(_ healthy: Bool) {
        if healthy { perform(machine.applicationBecameHealthy(now: MonotonicClock.now())) }
    }

    /// `POST /register`: registers at once and answers once that registration ended.
    public func registerNow() async -> MembershipReport {
        await withCheckedContinuation { c in
            registerWaiters.append(c)
            let actions = machine.registerNow(now: MonotonicClock.now())
            if actions.isEmpty { resumeRegister() }
            perform(actions)
        }
    }

    /// `POST /unregister`: tells the peers, then mIT; answers when done.
    public func unregisterNow() async -> MembershipReport {
        await withCheckedContinuation { c in
            unregisterWaiters.append(c)
            let actions = machine.unregisterNow(now: MonotonicClock.now())
            perform(actions)
            if machine.status == .unregistered { resumeUnregister() }
        }
    }

    /// mIT dropped us (deleteServer with our id): register again unless shutting down.
    public func forgotten() {
        perform(machine.forgotten(now: MonotonicClock.now()))
    }

    /// Shutdown: unregisters (peers first) and returns when done; later answers change nothing.
    public func shutdown() async {
        await withCheckedContinuation { c in
            finishWaiters.append(c)
            perform(machine.shutdown(now: MonotonicClock.now()))
        }
    }

    /// The figures `/status` shows.
    public func snapshot() -> RegistrationSnapshot {
        let now = MonotonicClock.now()
        let wall = WallClock.now()
        func wallTime(_ t: Double?) -> String? { t.map { WallClock.iso(wall - (now - $0)) } }
        return RegistrationSnapshot(
            status: machine.status.rawValue, serverId: machine.serverID, leaseTime: machine.leaseTime,
            lastRegisteredAt: wallTime(machine.lastRegistered), lastLeasedAt: wallTime(machine.lastLeased),
            nextLeaseInSeconds: machine.nextLease.map { max(0, $0 - now) }, consecutiveFailures: machine.failures, lastError: lastError)
    }

    // MARK: running actions

    private func perform(_ actions: [RegistrationMachine.Action]) {
        health.setRegistered(machine.status == .registered)
        for action in actions {
            switch action {
            case .register(let seq, let id, let concurrent):
                let (mit, me, cluster) = (mit, self.me, machine.settings.clusterManagement)
                Task {
                    let r = await mit.register(id: id, me: me, cluster: cluster)
                    await self.registered(seq, concurrent, r)
                }
            case .renewLease(let seq, let id):
                let mit = mit
                Task {
                    let outcome = await mit.lease(id: id)
                    self.answered(seq, outcome)
                }
            case .unregister(let seq, let id):
                let (mit, leave, view) = (mit, leave, view)
                var leaving = self.me
                leaving.id = id
                let me = leaving
                Task {
                    let peers = view.snapshot().servers.filter { $0.id != id }
                    var failures = await leave?(me, peers) ?? []
                    if let error = await mit.unregister(id: id) {
                        failures.append(.init(code: error, message: "mIT did not confirm the unregistration", serverId: nil))
                    }
                    self.unregistered(seq, failures)
                }
            case .announce:
                break  // run by `registered` once the view holds the answer
            case .wakeAt(let t):
                wakeTask?.cancel()
                wakeTask = t.map { due in
                    Task {
                        let delay = due - MonotonicClock.now()
                        if delay > 0 { try? await Task.sleep(for: .milliseconds(Int((delay * 1000).rounded(.up)))) }
                        if !Task.isCancelled { self.tick() }
                    }
                }
            case .finished:
                wakeTask?.cancel()
                for c in finishWaiters { c.resume() }
                finishWaiters = []
            }
        }
        health.setRegistered(machine.status == .registered)
    }

    private func tick() { perform(machine.tick(now: MonotonicClock.now())) }

    private func answered(_ seq: Int, _ outcome: RegistrationMachine.Outcome) {
        perform(machine.answered(seq: seq, outcome, now: MonotonicClock.now()))
    }

    private func registered(_ seq: Int, _ concurrent: Bool, _ r: MITClient.Registration) async {
        let before = machine.status
        let actions = machine.answered(seq: seq, r.outcome, now: MonotonicClock.now())
        guard !actions.isEmpty || machine.status != before else { return }  // a stale answer
        lastError = r.error
        if case .registered(let id, _) = r.outcome {
            if me.id != id { logger.info("registered", metadata: ["server.id": "\(id)", "concurrent": "\(concurrent)"]) }
            me.id = id
            currentID.withLock { $0 = id }
            var servers = r.answer?.servers ?? []
            if !servers.contains(where: { $0.id == id }) { servers.append(me) }
            if concurrent { view.merge(servers) } else { view.replace(with: servers) }
        }
        perform(actions)
        lastErrors = r.error.map { [.init(code: $0, message: "registration failed", serverId: nil)] } ?? []
        if actions.contains(.announce), let announce {
            let peers = view.snapshot().servers.filter { $0.id != me.id }
            lastErrors += await announce(me, peers)
        }
        resumeRegister()
    }

    private func unregistered(_ seq: Int, _ failures: [MembershipReport.Failure]) {
        lastErrors = failures
        perform(machine.answered(seq: seq, .unregistered, now: MonotonicClock.now()))
        if machine.status == .unregistered || machine.status == .stopped {
            logger.info("unregistered", metadata: ["errors": "\(failures.count)"])
            resumeUnregister()
        }
    }

    private func report() -> MembershipReport {
        MembershipReport(nbServers: view.count, serverId: machine.serverID, errors: lastErrors.isEmpty ? nil : lastErrors)
    }

    private func resumeRegister() {
        let r = report()
        for c in registerWaiters { c.resume(returning: r) }
        registerWaiters = []
    }

    private func resumeUnregister() {
        let r = report()
        for c in unregisterWaiters { c.resume(returning: r) }
        unregisterWaiters = []
    }
}

/// The registration figures of `/status`.
public struct RegistrationSnapshot: Sendable, Codable {
    public var status: String
    public var serverId: String?
    public var leaseTime: Double
    public var lastRegisteredAt: String?
    public var lastLeasedAt: String?
    public var nextLeaseInSeconds: Double?
    public var consecutiveFailures: Int
    public var lastError: String?
}
