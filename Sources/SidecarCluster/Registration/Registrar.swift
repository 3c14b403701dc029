import Logging
import ServiceLifecycle
import SidecarPosix
import Synchronization

/// Drives `RegistrationMachine` with a clock and real calls to the registry: a `Service`.
///
/// Every actor method runs to its end without suspending, so no two events interleave. The
/// calls and the timer the machine asks for run as child tasks of `run()` (structured: none
/// outlives it); their results come back through actor methods. On graceful shutdown it
/// unregisters (peers first, then mIT) and `run()` returns. `announce` and `leave` are the peer
/// fan-outs of the lifecycle (POST /itResources after a registration, DELETE /servers/{id}
/// before leaving).
package actor Registrar: Service {
    /// Fans our server out to peers; returns the failures.
    package typealias PeerCall = @Sendable (_ me: ServerInfo, _ peers: [ServerInfo]) async -> [MembershipReport.Failure]
    private typealias Job = @Sendable () async -> Void

    private var machine: RegistrationMachine
    private let registry: any RegistryCalls
    private let clock: any SidecarClock
    private var me: ServerInfo
    private let view: ClusterView
    private let health: HealthState
    private let logger: Logger
    private let announce: PeerCall?
    private let leave: PeerCall?
    /// Work for `run()` to start as child tasks.
    private nonisolated let jobs: AsyncStream<Job>
    private let submit: AsyncStream<Job>.Continuation
    /// Bumped by each `.wakeAt`: a sleeping timer whose number is stale does nothing.
    private var wakeGeneration = 0
    private var registerWaiters: [CheckedContinuation<MembershipReport, Never>] = []
    private var unregisterWaiters: [CheckedContinuation<MembershipReport, Never>] = []
    private var finishWaiters: [CheckedContinuation<Void, Never>] = []
    private var lastErrors: [MembershipReport.Failure] = []
    private var lastError: MITFailure?
    /// Our server id as mIT knows it, readable without awaiting the actor (fan-out's fast path).
    package nonisolated let currentID = Mutex<String?>(nil)

    /// - Parameter me: our server; `id` is replaced by mIT's answer.
    package init(
        settings: RegistrationMachine.Settings, registry: any RegistryCalls, me: ServerInfo, view: ClusterView, health: HealthState,
        logger: Logger, clock: any SidecarClock = SystemClock(), announce: PeerCall? = nil, leave: PeerCall? = nil,
        seed: UInt64 = UInt64.random(in: 0...UInt64.max)
    ) {
        machine = RegistrationMachine(settings: settings, seed: seed)
        currentID.withLock { $0 = settings.fixedID }
        self.registry = registry
        self.clock = clock
        self.me = me
        self.view = view
        self.health = health
        self.logger = logger
        self.announce = announce
        self.leave = leave
        (jobs, submit) = AsyncStream.makeStream()
    }

    /// Starts the lifecycle (registration waits while the application is unhealthy) and runs
    /// its calls until shutdown ends it: on graceful shutdown it unregisters first.
    package nonisolated func run() async {
        await start()
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                do { try await gracefulShutdown() } catch { return }  // cancelled: no time left to leave
                await shutdown()
            }
            for await job in jobs { group.addTask(operation: job) }
            group.cancelAll()  // stale timers and the shutdown watcher
        }
    }

    private func start() {
        perform(machine.start(now: clock.now, applicationHealthy: health.isApplicationHealthy))
    }

    /// The probed application changed state.
    package func applicationHealth(_ healthy: Bool) {
        if healthy { perform(machine.applicationBecameHealthy(now: clock.now)) }
    }

    /// `POST /register`: registers at once and answers once that registration ended.
    package func registerNow() async -> MembershipReport {
        await withCheckedContinuation { c in
            registerWaiters.append(c)
            let actions = machine.registerNow(now: clock.now)
            if actions.isEmpty { resumeRegister() }
            perform(actions)
        }
    }

    /// `POST /unregister`: tells the peers, then mIT; answers when done.
    package func unregisterNow() async -> MembershipReport {
        await withCheckedContinuation { c in
            unregisterWaiters.append(c)
            perform(machine.unregisterNow(now: clock.now))
            if machine.status == .unregistered { resumeUnregister() }
        }
    }

    /// mIT dropped us (deleteServer with our id): register again unless shutting down.
    package func forgotten() {
        perform(machine.forgotten(now: clock.now))
    }

    /// Shutdown: unregisters (peers first) and returns when done; later answers change nothing.
    package func shutdown() async {
        guard machine.status != .stopped else { return }
        await withCheckedContinuation { c in
            finishWaiters.append(c)
            perform(machine.shutdown(now: clock.now))
        }
    }

    /// The figures `/status` shows.
    package func snapshot() -> RegistrationSnapshot {
        let now = clock.now
        func wallTime(_ t: MonotonicInstant?) -> String? { t.map { WallClock.iso(clock.wallTime(of: $0)) } }
        return RegistrationSnapshot(
            status: machine.status.rawValue, serverId: machine.serverID, leaseTime: machine.leaseTime.seconds,
            lastRegisteredAt: wallTime(machine.lastRegistered), lastLeasedAt: wallTime(machine.lastLeased),
            nextLeaseInSeconds: machine.nextLease.map { max(0, now.duration(to: $0).seconds) }, consecutiveFailures: machine.failures,
            lastError: lastError?.label, counts: machine.counts, registryUrl: registry.endpoint?.url,
            registryMoves: registry.endpoint?.moves)
    }

    // MARK: running actions

    private func perform(_ actions: [RegistrationMachine.Action]) {
        health.setRegistered(machine.status == .registered)
        for action in actions {
            switch action {
            case .register(let seq, let id, let concurrent):
                let (registry, me, cluster) = (registry, self.me, machine.settings.clusterManagement)
                submit.yield { [self] in
                    // Pushes that arrive while the call runs are newer than its answer.
                    let since = view.index
                    await registered(seq, concurrent, since, registry.register(id: id, me: me, cluster: cluster))
                }
            case .renewLease(let seq, let id):
                let registry = registry
                submit.yield { [self] in await answered(seq, registry.lease(id: id)) }
            case .unregister(let seq, let id):
                var leaving = me
                leaving.id = id
                let (registry, leave, view, me) = (registry, leave, view, leaving)
                submit.yield { [self] in
                    let peers = view.snapshot().servers.filter { $0.id != id }
                    var failures = await leave?(me, peers) ?? []
                    if let error = await registry.unregister(id: id) {
                        failures.append(.init(code: error.label, message: error.message, serverId: nil))
                    }
                    await unregistered(seq, failures)
                }
            case .announce:
                break  // run by `registered` once the view holds the answer
            case .wakeAt(let due):
                wakeGeneration += 1
                guard let due else { break }
                let (generation, clock) = (wakeGeneration, clock)
                submit.yield { [self] in
                    do { try await clock.sleep(until: due, tolerance: nil) } catch { return }
                    await tick(generation)
                }
            case .finished:
                wakeGeneration += 1
                for c in finishWaiters { c.resume() }
                finishWaiters = []
                resumeRegister()  // a registration cut short by the shutdown answers now
                resumeUnregister()
                submit.finish()
            }
        }
        health.setRegistered(machine.status == .registered)
        view.noteRegistration(machine.status.rawValue)
    }

    private func tick(_ generation: Int) {
        guard generation == wakeGeneration else { return }
        perform(machine.tick(now: clock.now))
    }

    private func answered(_ seq: Int, _ outcome: RegistrationMachine.Outcome) {
        perform(machine.answered(seq: seq, outcome, now: clock.now))
    }

    private func registered(_ seq: Int, _ concurrent: Bool, _ since: UInt64, _ result: Result<RegisterAnswer, MITFailure>) {
        let outcome: RegistrationMachine.Outcome
        switch result {
        case .success(let a): outcome = .registered(id: a.id, leaseTime: a.leaseTime.flatMap { $0 > 0 ? .seconds(exactly: $0) : nil })
        case .failure: outcome = .failed
        }
        let before = machine.status
        let actions = machine.answered(seq: seq, outcome, now: clock.now)
        guard !actions.isEmpty || machine.status != before else { return }  // a stale answer
        if case .success(let answer) = result {
            lastError = nil
            if me.id != answer.id { logger.info("registered", metadata: ["server.id": "\(answer.id)", "concurrent": "\(concurrent)"]) }
            me.id = answer.id
            currentID.withLock { $0 = answer.id }
            var servers = answer.servers ?? []
            if !servers.contains(where: { $0.id == answer.id }) { servers.append(me) }
            let left = concurrent ? view.merge(servers) : view.replace(with: servers, keepingChangesAfter: since)
            if left > 0 {
                logger.warning(
                    "servers left out of the cluster view",
                    metadata: ["count": "\(left)", "reason": "CLUSTER_MAX_SERVERS or CLUSTER_MAX_METADATA_BYTES"])
            }
        } else if case .failure(let failure) = result {
            lastError = failure
        }
        perform(actions)
        lastErrors = lastError.map { [.init(code: $0.label, message: "registration failed", serverId: nil)] } ?? []
        guard actions.contains(.announce), let announce else { return resumeRegister() }
        let ours = me
        let peers = view.snapshot().servers.filter { $0.id != ours.id }
        submit.yield { [self] in await announced(await announce(ours, peers)) }
    }

    private func announced(_ failures: [MembershipReport.Failure]) {
        lastErrors += failures
        resumeRegister()
    }

    private func unregistered(_ seq: Int, _ failures: [MembershipReport.Failure]) {
        lastErrors = failures
        perform(machine.answered(seq: seq, .unregistered, now: clock.now))
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
