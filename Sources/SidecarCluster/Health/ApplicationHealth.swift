import ServiceLifecycle
import SidecarClient
import SidecarHTTP
import SidecarPosix

/// The application's health from probe results (pure): the first success makes it healthy;
/// then 3 failures in a row make it unhealthy and 2 successes in a row healthy again.
package struct ApplicationHealthMachine: Sendable, Equatable {
    package private(set) var healthy = false
    private var failures = 0
    private var successes = 0
    private var everHealthy = false

    package init() {}

    /// Records one probe; returns the new state when it changed.
    package mutating func record(success: Bool) -> Bool? {
        if success {
            failures = 0
            successes += 1
            if !healthy && (!everHealthy || successes >= 2) {
                healthy = true
                everHealthy = true
                return true
            }
        } else {
            successes = 0
            failures += 1
            if healthy && failures >= 3 {
                healthy = false
                return false
            }
        }
        return nil
    }
}

/// Probes the application (`APP_HEALTH_URL`) every `interval` and reports each change of
/// `ApplicationHealthMachine`'s verdict: a `Service` that stops on graceful shutdown.
package struct ApplicationHealthProber: Service {
    /// One probe: true when the application answered 2xx.
    package typealias Probe = @Sendable () async -> Bool

    let probe: Probe
    let interval: Duration
    let clock: any SidecarClock
    let changed: @Sendable (Bool) async -> Void

    /// A prober calling `probe`; `changed` gets each new state.
    package init(
        interval: Duration = .seconds(5), clock: any SidecarClock = SystemClock(), probe: @escaping Probe,
        changed: @escaping @Sendable (Bool) async -> Void
    ) {
        self.probe = probe
        self.interval = interval
        self.clock = clock
        self.changed = changed
    }

    /// A prober of `url` over `client` (each probe has `timeout`).
    package init(
        url: String, client: CurlClient, interval: Duration = .seconds(5), timeout: Duration = .seconds(2),
        clock: any SidecarClock = SystemClock(),
        changed: @escaping @Sendable (Bool) async -> Void
    ) {
        self.init(
            interval: interval, clock: clock,
            probe: {
                (try? await client.execute(ClientRequest(url: url, timeout: timeout)).status).map { (200..<300).contains($0) } ?? false
            }, changed: changed)
    }

    /// Probes until cancelled or until graceful shutdown.
    package func run() async {
        let (probe, interval, clock, changed) = (probe, interval, clock, changed)
        await cancelWhenGracefulShutdown {
            var machine = ApplicationHealthMachine()
            while !Task.isCancelled {
                if let state = machine.record(success: await probe()) { await changed(state) }
                do { try await clock.sleep(until: clock.now + interval, tolerance: nil) } catch { return }
            }
        }
    }
}
