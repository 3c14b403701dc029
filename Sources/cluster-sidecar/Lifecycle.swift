import CSidecarSystem
import Glibc
import Logging
import ServiceLifecycle
import SidecarPosix
import Synchronization

/// The process's signals: SIGTERM, SIGINT, SIGHUP, SIGUSR2 and SIGCHLD are blocked in every thread
/// (`csidecar_block_signals` before any starts) and the main thread waits for them in
/// `sigwait`, feeding this stream: no handler runs at an arbitrary point of the program.
enum Signals {
    static let (stream, feed) = AsyncStream<Int32>.makeStream()

    /// Runs `body` as a task, exits with its status when it ends, and meanwhile turns the
    /// calling (main) thread into the signal waiter.
    static func run(_ body: @escaping @Sendable () async -> Int32) -> Never {
        Task { Glibc.exit(await body()) }
        while true { feed.yield(csidecar_wait_signal()) }
    }
}

/// SIGTERM, SIGINT and SIGHUP for the service group, as a service of it: the first signal
/// calls `first` (log it, leave rotation) and starts the group's graceful shutdown; a second
/// one exits at once with 128 + its number. With `refreshSettings`, SIGHUP calls it instead and
/// stops nothing (one at a time, in order, beside the signal loop); with `reloadWorkers` (under
/// `run`), SIGUSR2 starts a rolling restart of the workers, and is otherwise ignored. It is the
/// group's first service, so it is shut down last and hears a second signal until the very end.
final class SignalService: Service {
    private let first: @Sendable (Int32) -> Void
    private let refreshSettings: (@Sendable () async -> Void)?
    private let reloadWorkers: (@Sendable () async -> Void)?
    private let logger: Logger
    private let group = Mutex<ServiceGroup?>(nil)

    init(
        logger: Logger, refreshSettings: (@Sendable () async -> Void)? = nil, reloadWorkers: (@Sendable () async -> Void)? = nil,
        first: @escaping @Sendable (Int32) -> Void
    ) {
        self.logger = logger
        self.refreshSettings = refreshSettings
        self.reloadWorkers = reloadWorkers
        self.first = first
    }

    /// The group whose graceful shutdown the first signal starts.
    func attach(_ group: ServiceGroup) { self.group.withLock { $0 = group } }

    /// Settings refreshes and rolling restarts run one at a time, in order, beside the signal loop: a
    /// slow one (a settings file on a stalled mount, workers slow to stop) never keeps the loop
    /// from hearing the signal that stops the process, or the second one that exits at once.
    func run() async {
        let (jobs, queue) = AsyncStream<@Sendable () async -> Void>.makeStream()
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await job in jobs { await job() }
            }
            await cancelWhenGracefulShutdown { [self] in
                await listen(queue)
            }
            queue.finish()
            group.cancelAll()
        }
    }

    private func listen(_ queue: AsyncStream<@Sendable () async -> Void>.Continuation) async {
        var seen = false
        for await signal in Signals.stream {
            if signal == SIGUSR2 {
                if let reloadWorkers {
                    queue.yield(reloadWorkers)
                } else {
                    logger.notice("SIGUSR2 ignored: no workers to reload (not under cluster-sidecar run)")
                }
                continue
            }
            if signal == SIGHUP, let refreshSettings {
                queue.yield(refreshSettings)
                continue
            }
            guard !seen else {
                logger.warning("stopped", metadata: ["reason": "second signal", "signal": "\(signal)"])
                exit(128 + signal)
            }
            seen = true
            first(signal)
            await group.withLock { $0 }?.triggerGracefulShutdown()
        }
    }
}

/// Runs `services` in one group: they start together, and on the first signal they are shut
/// down in reverse order (the last one first), each given the time left of `drainTimeout`;
/// then whatever still runs is cancelled. Returns when every service has ended.
enum Lifecycle {
    static func run(
        _ services: [ServiceGroupConfiguration.ServiceConfiguration], signals: SignalService, drainTimeout: Duration, logger: Logger
    ) async {
        var configuration = ServiceGroupConfiguration(services: [.init(service: signals)] + services, logger: logger)
        configuration.maximumGracefulShutdownDuration = drainTimeout
        configuration.maximumCancellationDuration = .seconds(1)
        let group = ServiceGroup(configuration: configuration)
        signals.attach(group)
        do {
            try await group.run()
        } catch {
            logger.error("service failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Start-up touched far more pages than serving needs: hands them back once the services
/// have started (the runtime's conformance scans and the group's set-up come after the
/// listeners), and once more when the first calls out (TLS library start-up, registration)
/// are done; then fixes malloc's mmap threshold.
struct StartupTrim: Service {
    let clock: any SidecarClock

    func run() async {
        for delay in [Duration.milliseconds(50), .seconds(3)] {
            do { try await cancelWhenGracefulShutdown { try await clock.sleep(until: clock.now + delay, tolerance: nil) } } catch { return }
            _ = csidecar_trim_startup_pages()
        }
        // From now on, large fan-out aggregates go back to the system once sent (see the
        // shim); set only now, so that start-up's own large blocks are not kept in the heap.
        csidecar_fix_mmap_threshold(8 << 20)
    }
}
