import SidecarTestSupport
import Testing

@testable import SidecarClient
@testable import SidecarCluster
@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarRegistry

/// Drives the machine with a manual clock and checks every transition.
@Suite struct RegistrationMachineTests {
    typealias M = RegistrationMachine
    let settings = M.Settings(retry: .seconds(10), concurrentDelay: .seconds(60), leaseTimeDefault: .seconds(100), clusterManagement: true)

    /// Seconds since the clock's start, for readable arithmetic on instants.
    func secs(_ t: MonotonicInstant) -> Double { Double(t.nanoseconds) / 1e9 }

    func machine(_ s: M.Settings? = nil, seed: UInt64 = 1) -> M { M(settings: s ?? settings, seed: seed) }

    /// The call in `actions`, and the wake-up time.
    func call(_ actions: [M.Action]) -> M.Action? {
        actions.first { if case .wakeAt = $0 { false } else if case .announce = $0 { false } else { true } }
    }
    func wake(_ actions: [M.Action]) -> Double?? {
        for case .wakeAt(let t) in actions { return .some(t.map(secs)) }
        return nil
    }
    func seq(_ a: M.Action?) -> Int {
        switch a {
        case .register(let s, _, _), .renewLease(let s, _), .unregister(let s, _): s
        default: -1
        }
    }

    @Test func start_registersAtOnce_whenTheApplicationIsHealthy() {
        var m = machine()
        let a = m.start(now: at(0), applicationHealthy: true)
        #expect(call(a) == .register(seq: 1, id: nil, concurrent: false))
        #expect(m.status == .registering)
    }

    @Test func start_waitsForTheApplication() {
        var m = machine()
        #expect(m.start(now: at(0), applicationHealthy: false).isEmpty)
        #expect(m.status == .waiting)
        #expect(call(m.applicationBecameHealthy(now: at(3))) == .register(seq: 1, id: nil, concurrent: false))
    }

    @Test func fixedID_isSentFromTheFirstRegistration() {
        var m = machine(M.Settings(fixedID: "s-1"))
        #expect(call(m.start(now: at(0), applicationHealthy: true)) == .register(seq: 1, id: "s-1", concurrent: false))
    }

    @Test func failedRegistration_retriesWithJitterWithinTheRetryPeriod() {
        for seed in UInt64(1)...200 {
            var m = machine(seed: seed)
            let first = m.start(now: at(0), applicationHealthy: true)
            let a = m.answered(seq: seq(call(first)), .failed, now: at(5))
            guard case .some(.some(let t)) = wake(a) else {
                Issue.record("no retry scheduled")
                return
            }
            #expect(t >= 5 + 9 && t <= 5 + 10, "retry at \(t)")
            #expect(m.status == .registering)
            #expect(call(m.tick(now: at(t - 0.001))) == nil)
            #expect(call(m.tick(now: at(t))) == .register(seq: 2, id: nil, concurrent: false))
        }
    }

    @Test func retries_forever_untilSuccess() {
        var m = machine()
        var a = m.start(now: at(0), applicationHealthy: true)
        var now = 0.0
        for _ in 0..<50 {
            a = m.answered(seq: seq(call(a)), .failed, now: at(now))
            guard case .some(.some(let t)) = wake(a) else {
                Issue.record("stopped retrying")
                return
            }
            now = t
            a = m.tick(now: at(now))
        }
        #expect(m.failures == 50)
        _ = m.answered(seq: seq(call(a)), .registered(id: "x", leaseTime: nil), now: at(now))
        #expect(m.status == .registered && m.failures == 0)
    }

    @Test func success_announces_schedulesLeaseWithinBounds_andTheConcurrentRegistration() {
        for seed in UInt64(1)...100 {
            var m = machine(seed: seed)
            let a = m.answered(
                seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "id-1", leaseTime: .seconds(50)), now: at(1))
            #expect(a.contains(.announce))
            #expect(m.serverID == "id-1" && m.leaseTime == .seconds(50) && m.status == .registered)
            let lease = secs(m.nextLease!)
            #expect(lease >= 1 + 45 && lease <= 1 + 50)
            // lease due before the concurrent registration (at 61)
            #expect(wake(a) == .some(lease))
            let l = m.tick(now: at(lease))
            #expect(call(l) == .renewLease(seq: 2, id: "id-1"))
            let after = m.answered(seq: 2, .leased(leaseTime: nil), now: at(lease))
            #expect(wake(after) == .some(61))
            #expect(call(m.tick(now: at(61))) == .register(seq: 3, id: "id-1", concurrent: true))
            let done = m.answered(seq: 3, .registered(id: "id-1", leaseTime: .seconds(50)), now: at(61))
            #expect(done.contains(.announce))
            // exactly once: no further concurrent registration
            var now = 61.0
            for _ in 0..<5 {
                guard case .some(.some(let t)) = wake(m.tick(now: at(now))) else { break }
                now = t
                let c = call(m.tick(now: at(now)))
                if case .register = c { Issue.record("second concurrent registration") }
                _ = m.answered(seq: seq(c), .leased(leaseTime: nil), now: at(now))
            }
        }
    }

    @Test func noClusterManagement_noAnnounce_noConcurrentRegistration() {
        var m = machine(M.Settings(leaseTimeDefault: .seconds(100), clusterManagement: false))
        let a = m.answered(seq: 1, .registered(id: "a", leaseTime: nil), now: at(0))
        _ = a
        var n = machine(M.Settings(leaseTimeDefault: .seconds(100), clusterManagement: false))
        let b = n.answered(seq: seq(call(n.start(now: at(0), applicationHealthy: true))), .registered(id: "a", leaseTime: nil), now: at(0))
        #expect(!b.contains(.announce))
        #expect(wake(b) == .some(n.nextLease.map(secs)))
        #expect(secs(n.nextLease!) <= 100)
    }

    @Test func leaseTime_followsTheLastAnswer_whenItShrinks() {
        var m = machine(M.Settings(leaseTimeDefault: .seconds(100), clusterManagement: false))
        _ = m.answered(
            seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "a", leaseTime: .seconds(100)), now: at(0))
        let due = secs(m.nextLease!)
        _ = m.tick(now: at(due))
        let a = m.answered(seq: 2, .leased(leaseTime: .seconds(10)), now: at(due))
        #expect(m.leaseTime == .seconds(10))
        guard case .some(.some(let t)) = wake(a) else {
            Issue.record("no wake")
            return
        }
        #expect(t >= due + 9 && t <= due + 10)
    }

    @Test func lease404_registersAgainAtOnce_keepingTheID() {
        var m = machine()
        _ = m.answered(
            seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "keep", leaseTime: .seconds(100)), now: at(0))
        let due = secs(m.nextLease!)
        _ = m.tick(now: at(due))
        let a = m.answered(seq: 2, .notFound, now: at(due))
        #expect(call(a) == .register(seq: 3, id: "keep", concurrent: false))
        #expect(m.status == .registering)
    }

    @Test func leaseFailure_retriesAtTheRegistrationPace_stayingRegistered() {
        var m = machine(M.Settings(leaseTimeDefault: .seconds(100), clusterManagement: false))
        _ = m.answered(
            seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "a", leaseTime: .seconds(100)), now: at(0))
        let due = secs(m.nextLease!)
        _ = m.tick(now: at(due))
        let a = m.answered(seq: 2, .failed, now: at(due))
        #expect(m.status == .registered)
        guard case .some(.some(let t)) = wake(a) else {
            Issue.record("no retry")
            return
        }
        #expect(t >= due + 9 && t <= due + 10)
        #expect(call(m.tick(now: at(t))) == .renewLease(seq: 3, id: "a"))
    }

    @Test func slowMIT_answerToAnOldCall_changesNothing() {
        var m = machine()
        let first = call(m.start(now: at(0), applicationHealthy: true))
        _ = m.registerNow(now: at(1))  // queued behind the call in flight
        #expect(m.answered(seq: 99, .registered(id: "ghost", leaseTime: nil), now: at(2)).isEmpty)
        #expect(m.serverID == nil)
        let a = m.answered(seq: seq(first), .failed, now: at(30))
        #expect(call(a) == .register(seq: 2, id: nil, concurrent: false))  // registerNow ran at once after
    }

    @Test func shutdownWhileRegistered_unregisters_thenFinishes_andIgnoresLateAnswers() {
        var m = machine()
        _ = m.answered(
            seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "a", leaseTime: .seconds(100)), now: at(0))
        let lease = m.tick(now: at(secs(m.nextLease!)))
        let s = m.shutdown(now: at(99))
        #expect(call(s) == .unregister(seq: 3, id: "a"))
        #expect(m.answered(seq: seq(call(lease)), .notFound, now: at(99.5)).isEmpty)
        #expect(m.status == .unregistering)
        #expect(m.answered(seq: 3, .unregistered, now: at(100)) == [.finished])
        #expect(m.status == .stopped)
        #expect(m.registerNow(now: at(101)).isEmpty)
    }

    @Test func shutdownWhileRegistering_withoutID_finishesAtOnce_andIgnoresTheLateSuccess() {
        var m = machine()
        let r = call(m.start(now: at(0), applicationHealthy: true))
        #expect(m.shutdown(now: at(1)).contains(.finished))
        #expect(m.answered(seq: seq(r), .registered(id: "late", leaseTime: nil), now: at(2)).isEmpty)
        #expect(m.serverID == nil && m.status == .stopped)
    }

    @Test func shutdownMidLease_unregisters() {
        var m = machine()
        _ = m.answered(
            seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "a", leaseTime: .seconds(100)), now: at(0))
        _ = m.tick(now: at(secs(m.nextLease!)))
        #expect(call(m.shutdown(now: at(95))) == .unregister(seq: 3, id: "a"))
    }

    @Test func unregisterNow_thenRegisterNow() {
        var m = machine()
        _ = m.answered(
            seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "a", leaseTime: .seconds(100)), now: at(0))
        #expect(call(m.unregisterNow(now: at(5))) == .unregister(seq: 2, id: "a"))
        let a = m.answered(seq: 2, .unregistered, now: at(6))
        #expect(m.status == .unregistered)
        #expect(wake(a) == .some(nil))
        #expect(call(m.registerNow(now: at(7))) == .register(seq: 3, id: "a", concurrent: false))
    }

    @Test func forgotten_registersAgainKeepingTheID() {
        var m = machine()
        _ = m.answered(
            seq: seq(call(m.start(now: at(0), applicationHealthy: true))), .registered(id: "me", leaseTime: .seconds(100)), now: at(0))
        #expect(call(m.forgotten(now: at(3))) == .register(seq: 2, id: "me", concurrent: false))
    }
}
