import Logging
import SidecarTestSupport
import Synchronization
import Testing

@testable import SidecarCluster
@testable import SidecarPosix

/// The registrar on a manual clock against a scripted registry: lifecycle timing checked in
/// microseconds of real time, no sleeps.
@Suite struct RegistrarTests {
    /// A registry whose answers the test scripts; every call is reported on `calls`.
    final class FakeRegistry: RegistryCalls {
        enum Call: Equatable {
            case register(String?)
            case lease(String)
            case unregister(String)
        }
        /// What the next calls answer: up (mIT answers), down (unreachable), or amnesic (leases 404).
        enum Mode { case up, down, amnesic }

        let mode = Mutex<Mode>(.up)
        let (calls, record) = AsyncStream<Call>.makeStream()

        func register(id: String?, me: ServerInfo, cluster: Bool) async -> Result<RegisterAnswer, MITFailure> {
            record.yield(.register(id))
            guard mode.withLock({ $0 }) != .down else { return .failure(.unreachable(.connect)) }
            return .success(
                RegisterAnswer(
                    id: id ?? "srv-1", leaseTime: 60,
                    servers: [ServerInfo(id: id ?? "srv-1", type: "t", url: "http://a", clusterUrl: "http://a:1")]))
        }

        func lease(id: String) async -> RegistrationMachine.Outcome {
            record.yield(.lease(id))
            switch mode.withLock({ $0 }) {
            case .up: return .leased(leaseTime: nil)
            case .down: return .failed
            case .amnesic: return .notFound
            }
        }

        func unregister(id: String) async -> MITFailure? {
            record.yield(.unregister(id))
            return nil
        }
    }

    struct Harness {
        let clock = ManualClock()
        let registry = FakeRegistry()
        let health = HealthState(registered: false)
        let registrar: Registrar
        var calls: AsyncStream<FakeRegistry.Call>.Iterator

        init(retry: Duration = .seconds(10)) {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            registrar = Registrar(
                settings: .init(retry: retry, leaseTimeDefault: .seconds(60), clusterManagement: false), registry: registry,
                me: ServerInfo(id: "", type: "t", url: "http://a", clusterUrl: "http://a:1"), view: ClusterView(), health: health,
                logger: logger, clock: clock, seed: 7)
            calls = registry.calls.makeAsyncIterator()
        }

        mutating func next() async -> FakeRegistry.Call? { await calls.next() }

        /// Moves time to the registrar's next wake-up (it sleeps on the clock between calls).
        func advanceToNextWake(atMost limit: Duration) async {
            await clock.waitForSleepers()
            clock.advance(by: limit)
        }
    }

    @Test func registers_thenRenewsTheLeaseWithinItsTime_andUnregistersOnShutdown() async {
        var h = Harness()
        let registrar = h.registrar
        let running = Task { await registrar.run() }
        #expect(await h.next() == .register(nil))
        // The lease is due between 0.9 and 1.0 lease times: nothing at 53 s, a renewal by 60 s.
        await h.clock.waitForSleepers()
        h.clock.advance(by: .seconds(53))
        #expect(await h.registrar.snapshot().status == "registered")
        #expect(h.health.isRegistered)
        h.clock.advance(by: .seconds(7))
        #expect(await h.next() == .lease("srv-1"))
        let snapshot = await h.registrar.snapshot()
        #expect(snapshot.lastLeasedAt != nil && snapshot.consecutiveFailures == 0)
        await h.registrar.shutdown()
        #expect(await h.next() == .unregister("srv-1"))
        await running.value
        #expect(!h.health.isRegistered)
    }

    @Test func registryOutage_keepsTheRegistration_retryingAtTheRetryPace_thenAmnesia_registersAgainKeepingTheID() async {
        var h = Harness(retry: .seconds(10))
        let registrar = h.registrar
        let running = Task { await registrar.run() }
        #expect(await h.next() == .register(nil))
        h.registry.mode.withLock { $0 = .down }
        await h.advanceToNextWake(atMost: .seconds(60))
        #expect(await h.next() == .lease("srv-1"))
        // Failed leases retry every 9-10 s and the registration stands meanwhile.
        for _ in 0..<3 {
            await h.advanceToNextWake(atMost: .seconds(10))
            #expect(await h.next() == .lease("srv-1"))
        }
        let during = await h.registrar.snapshot()
        #expect(during.status == "registered" && during.consecutiveFailures >= 3)
        // Back without its memory: the next lease answers 404 and the registration follows at once.
        h.registry.mode.withLock { $0 = .amnesic }
        await h.advanceToNextWake(atMost: .seconds(10))
        #expect(await h.next() == .lease("srv-1"))
        #expect(await h.next() == .register("srv-1"))
        h.registry.mode.withLock { $0 = .up }
        await h.registrar.shutdown()
        #expect(await h.next() == .unregister("srv-1"))
        await running.value
    }

    @Test func registryDownAtStart_retriesEveryRetryPeriod_untilItComes() async {
        var h = Harness(retry: .milliseconds(500))
        h.registry.mode.withLock { $0 = .down }
        let registrar = h.registrar
        let running = Task { await registrar.run() }
        #expect(await h.next() == .register(nil))
        await h.clock.waitForSleepers()
        h.clock.advance(by: .milliseconds(449))
        #expect(await h.registrar.snapshot().status == "registering")
        h.clock.advance(by: .milliseconds(51))
        #expect(await h.next() == .register(nil))
        #expect(await h.registrar.snapshot().lastError == "mit_connect")
        h.registry.mode.withLock { $0 = .up }
        await h.advanceToNextWake(atMost: .milliseconds(500))
        #expect(await h.next() == .register(nil))
        #expect(await h.registrar.snapshot().status == "registered")
        await h.registrar.shutdown()
        #expect(await h.next() == .unregister("srv-1"))
        await running.value
    }

    @Test func shutdownBeforeAnyRegistration_endsRunAtOnce() async {
        let h = Harness()
        h.health.setApplicationHealthy(false)
        let registrar = h.registrar
        let running = Task { await registrar.run() }
        await h.registrar.shutdown()
        await running.value
        #expect(await h.registrar.snapshot().status == "stopped")
    }
}
