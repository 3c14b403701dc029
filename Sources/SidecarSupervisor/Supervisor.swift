import CSidecarSystem
import Glibc
import Logging
import SidecarPosix

/// Runs the application's workers (`cluster-sidecar run`): a `SupervisorMachine` on an event
/// loop of its own, which carries out its actions (spawn, signal, report) and feeds it what the
/// kernel says (SIGCHLD through a signalfd, `NOTIFY_SOCKET` messages) and its deadlines.
///
/// The loop's thread forks every worker and lives until the last has stopped: the kernel ties
/// a worker's PDEATHSIG to it. Other threads reach the machine through `execute` only.
package final class Supervisor: @unchecked Sendable {  // machine, descriptors and waiters are touched only on `loop`'s thread
    /// What the workers are started with.
    package struct Launch: Sendable {
        /// The command and its arguments (the first searched in `PATH`).
        package var command: [String]
        /// The sidecar's own environment, passed on.
        package var environment: [String: String]
        /// The shared listening socket (fd 3 of every worker of the first generation), or nil.
        package var listener: Int32?
        /// Where it is bound (its real port): each later generation gets a socket of its own
        /// there, joined to the serving one (`Supervisor+Handover`). Nil: every generation shares
        /// `listener`.
        package var address: SocketAddress?
        /// `CLUSTER_SIDECAR_URL`: the local API's base URL.
        package var sidecarURL: String
        /// Variables of `environment` never passed to a worker (the sidecar's credentials).
        package var withheld: Set<String>

        package init(
            command: [String], environment: [String: String], listener: Int32?, address: SocketAddress? = nil, sidecarURL: String,
            withheld: Set<String> = []
        ) {
            self.command = command
            self.environment = environment
            self.listener = listener
            self.address = address
            self.sidecarURL = sidecarURL
            self.withheld = withheld
        }
    }

    package let settings: SupervisorSettings
    let launch: Launch
    let logger: Logger
    /// Told whether any worker is ready, on every change (the sidecar's readiness follows it).
    let workersReady: @Sendable (Bool) -> Void
    let clock: any SidecarClock
    let loop: EventLoop
    var machine: SupervisorMachine
    private var exits: ChildExits?
    private var notify: NotifySocket?
    /// The next reap and memory check, once a second.
    private var nextSample: MonotonicInstant
    private var readyWaiters: [CheckedContinuation<Bool, Never>] = []
    /// A waiter was cancelled (its cancellation may reach the loop before its wait).
    private var readyWaitCancelled = false
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    /// The generations' sockets and the hand-over between them.
    var handover = Handover()

    package init(
        settings: SupervisorSettings, launch: Launch, workersReady: @escaping @Sendable (Bool) -> Void, logger: Logger,
        clock: any SidecarClock = SystemClock()
    ) throws(SystemError) {
        self.settings = settings
        self.launch = launch
        self.workersReady = workersReady
        self.logger = logger
        self.clock = clock
        machine = SupervisorMachine(settings: settings)
        loop = try EventLoop(id: -1, clock: clock)
        nextSample = clock.now + .seconds(1)
    }

    /// Opens the child-exit descriptor and, with `notify` readiness, `NOTIFY_SOCKET`; then starts
    /// the loop and the first generation. Out of rotation until a worker is ready.
    package func start() throws(SystemError) {
        workersReady(false)
        let exits = try ChildExits()
        self.exits = exits
        if settings.readiness == .notify { notify = try NotifySocket(path: NotifySocket.uniqueAbstractPath()) }
        // The loop keeps the source; it keeps no reference back (unowned).
        let source = Source(self)
        loop.host(source)
        loop.watch(exits.fd, events: EPOLLIN.rawValue, token: 1, isNew: true, for: source)
        if let notify { loop.watch(notify.fd, events: EPOLLIN.rawValue, token: 2, isNew: true, for: source) }
        loop.start()
        loop.execute { [self] in apply(machine.start(now: clock.now)) }
    }

    // MARK: any thread

    /// Starts a rolling restart; refused while another reload or replacement runs, or during
    /// shutdown.
    package func reload() async -> Result<SupervisorMachine.Operation, SupervisorMachine.Refusal> {
        await onLoop { s in s.begin(s.machine.reload(now: s.clock.now)) }
    }

    /// Replaces worker `id`: its successor first, then the old one is stopped.
    package func replace(id: Int) async -> Result<SupervisorMachine.Operation, SupervisorMachine.Refusal> {
        await onLoop { s in s.begin(s.machine.replace(id: id, reason: "request", now: s.clock.now)) }
    }

    /// True once every slot has had a ready worker; false if shutdown or cancellation came first.
    package func firstGenerationReady() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { c in
                loop.execute { [self] in
                    if machine.firstGenerationReady {
                        c.resume(returning: true)
                    } else if machine.shuttingDown || readyWaitCancelled {
                        c.resume(returning: false)
                    } else {
                        readyWaiters.append(c)
                    }
                }
            }
        } onCancel: {
            loop.execute { [self] in
                readyWaitCancelled = true
                for c in readyWaiters { c.resume(returning: false) }
                readyWaiters.removeAll()
            }
        }
    }

    /// Stops every worker (SIGTERM, SIGKILL after the stop timeout) and returns once all have
    /// exited.
    package func shutdown() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                stopWaiters.append(c)
                if !machine.shuttingDown {
                    let running = machine.workers.filter { $0.pid != nil }.count
                    logger.info(
                        "stopping the workers", metadata: ["workers": "\(running)", "stop_timeout_s": "\(settings.stopTimeout.seconds)"])
                }
                apply(machine.shutdown(now: clock.now))
            }
        }
    }

    /// Runs `body` on the loop and returns its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (Supervisor) -> T) async -> T {
        await withCheckedContinuation { c in loop.execute { [self] in c.resume(returning: body(self)) } }
    }

    // MARK: loop thread

    private func begin(_ r: Result<(SupervisorMachine.Operation, [SupervisorMachine.Action]), SupervisorMachine.Refusal>)
        -> Result<SupervisorMachine.Operation, SupervisorMachine.Refusal>
    {
        r.map { op, actions in
            apply(actions)
            return op
        }
    }

    /// Carries out `actions` and what they lead to, then publishes readiness and wakes waiters.
    func apply(_ actions: [SupervisorMachine.Action]) {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .spawn(let key, let id, let generation):
                do throws(SystemError) {
                    let pid = try WorkerSpawn.spawn(
                        command: launch.command, environment: environment(id: id, generation: generation),
                        listener: socket(for: generation))
                    machine.spawned(key: key, pid: pid)
                    writePidFile(id: id, pid: pid)
                    logger.info("worker started", metadata: ["worker": "\(id)", "pid": "\(pid)", "generation": "\(generation)"])
                } catch {
                    logger.error("cannot start worker", metadata: ["worker": "\(id)", "error": "\(error)"])
                    queue.append(contentsOf: machine.spawnFailed(key: key, now: clock.now))
                }
            case .signal(let pid, let signal):
                if signal == SIGTERM && holdUntilDrained(pid) { continue }
                WorkerSpawn.signal(pid, signal)
            case .report(let event):
                report(event)
            }
        }
        closeUnusedSockets()
        workersReady(machine.anyReady)
        if machine.firstGenerationReady || machine.shuttingDown, !readyWaiters.isEmpty {
            for c in readyWaiters { c.resume(returning: machine.firstGenerationReady) }
            readyWaiters.removeAll()
        }
        if machine.isStopped {
            // The files go first: a resumed waiter lets the process exit at once.
            removePidFiles()
            for c in stopWaiters { c.resume() }
            stopWaiters.removeAll()
        }
    }

    /// The parent's environment, without what concerned the sidecar's own activation and
    /// without its credentials (`Launch.withheld`), plus the worker's identity.
    func environment(id: Int, generation: Int) -> [(String, String)] {
        var env = launch.environment
        for k in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"] { env[k] = nil }
        for k in launch.withheld { env[k] = nil }
        env["APP_WORKER_ID"] = "\(id)"
        env["APP_GENERATION"] = "\(generation)"
        env["CLUSTER_SIDECAR_URL"] = launch.sidecarURL
        if let notify { env["NOTIFY_SOCKET"] = notify.path }
        return env.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    func childrenExited() {
        guard let exits else { return }
        let now = clock.now
        for (pid, reason) in exits.reap() { apply(machine.exited(pid: pid, reason: reason, now: now)) }
    }

    func notifications() {
        guard let notify else { return }
        while let (sender, fields) = notify.receive() {
            guard let pid = workerPID(of: sender) else {
                logger.debug("notify message from a process that is no worker", metadata: ["pid": "\(sender)"])
                continue
            }
            apply(machine.notified(pid: pid, fields: fields, now: clock.now))
        }
    }

    /// The worker `pid` is, or descends from (a shell or runtime that started the real server).
    func workerPID(of pid: pid_t) -> pid_t? {
        var p = pid
        for _ in 0..<8 {
            if p <= 1 { return nil }
            if machine.worker(pid: p) != nil { return p }
            guard let parent = ProcStat.read(pid: p)?.parent, parent > 0 else { return nil }
            p = pid_t(parent)
        }
        return nil
    }

    /// Deadlines, and once a second a reap (in case a SIGCHLD was lost to a thread that did not
    /// block it) and, with `APP_MAX_MEMORY`, the memory check.
    func fire(now: MonotonicInstant) {
        if let due = machine.nextDeadline, due <= now { apply(machine.tick(now: now)) }
        releaseIfDrained(now: now)
        guard nextSample <= now else { return }
        nextSample = now + .seconds(1)
        childrenExited()
        guard settings.maxMemoryBytes > 0, machine.operation == nil, !machine.shuttingDown else { return }
        for w in machine.workers where w.state == .ready {
            guard let pid = w.pid, let rss = ProcStat.read(pid: pid)?.residentBytes, rss > settings.maxMemoryBytes else { continue }
            logger.warning(
                "worker above APP_MAX_MEMORY: replacing it", metadata: ["worker": "\(w.id)", "pid": "\(pid)", "rss_bytes": "\(rss)"])
            if case .success(let (_, actions)) = machine.replace(id: w.id, reason: "memory", now: now) { apply(actions) }
            return
        }
    }

    var deadline: MonotonicInstant? {
        min(machine.nextDeadline ?? nextSample, nextSample, handover.nextCheck(now: clock.now) ?? nextSample)
    }

    private func writePidFile(id: Int, pid: pid_t) {
        guard let dir = settings.pidDirectory else { return }
        let path = "\(dir)/worker-\(id).pid"
        if let error = PidFileText.write(pid, to: path) {
            logger.warning(
                "cannot write the worker's pid file", metadata: ["path": "\(path)", "error": "\(String(cString: strerror(error)))"])
        }
    }

    private func removePidFiles() {
        guard let dir = settings.pidDirectory else { return }
        for id in 0..<machine.slots.count { unlink("\(dir)/worker-\(id).pid") }
    }

    /// The loop's view of the supervisor.
    final class Source: ReactorSource {
        unowned let supervisor: Supervisor
        init(_ supervisor: Supervisor) { self.supervisor = supervisor }
        func ready(_ token: UInt64, events: UInt32) {
            if token == 1 { supervisor.childrenExited() } else { supervisor.notifications() }
        }
        var deadline: MonotonicInstant? { supervisor.deadline }
        func fire(now: MonotonicInstant) { supervisor.fire(now: now) }
        func close() {}
    }
}
