import Glibc
import Testing

@testable import SidecarPosix
@testable import SidecarSupervisor

/// The supervisor's decisions, pure: instants are passed in (a manual clock), pids invented.
@Suite struct SupervisorMachineTests {
    typealias M = SupervisorMachine

    func t(_ seconds: Double) -> MonotonicInstant { MonotonicInstant(nanoseconds: UInt64(1_000_000_000_000 + seconds * 1e9)) }

    func settings(workers: Int = 2, readiness: SupervisorSettings.Readiness = .after(.seconds(1))) -> SupervisorSettings {
        var s = SupervisorSettings()
        s.workers = workers
        s.readiness = readiness
        s.readyTimeout = .seconds(10)
        s.stopTimeout = .seconds(5)
        return s
    }

    /// Carries out spawns with invented pids (1000 + key); returns the other actions.
    @discardableResult
    func run(_ m: inout M, _ actions: [M.Action]) -> [M.Action] {
        var rest: [M.Action] = []
        for a in actions {
            if case .spawn(let key, _, _) = a { m.spawned(key: key, pid: pid_t(1000 + key)) } else { rest.append(a) }
        }
        return rest
    }

    func spawns(_ actions: [M.Action]) -> [(id: Int, generation: Int)] {
        actions.compactMap { if case .spawn(_, let id, let g) = $0 { (id, g) } else { nil } }
    }

    func signals(_ actions: [M.Action]) -> [(pid_t, Int32)] {
        actions.compactMap { if case .signal(let p, let s) = $0 { (p, s) } else { nil } }
    }

    func pids(_ m: M, state: M.State) -> [pid_t] { m.workers.filter { $0.state == state }.compactMap(\.pid).sorted() }

    /// Two workers started at 0 and ready at 1.
    func serving() -> M {
        var m = M(settings: settings())
        run(&m, m.start(now: t(0)))
        run(&m, m.tick(now: t(1)))
        return m
    }

    @Test func backoff_doubles_from100ms_toAtMost15s() {
        let b = RespawnBackoff()
        #expect(
            (0..<10).map { b.delay(attempt: $0) }
                == [100, 200, 400, 800, 1600, 3200, 6400, 12800, 15000, 15000].map { Duration.milliseconds($0) })
        #expect(b.delay(attempt: 1000) == .seconds(15))
    }

    @Test func start_spawnsEverySlot_readyAfterTheDelay_thenFirstGenerationReady() {
        var m = M(settings: settings())
        let a = m.start(now: t(0))
        #expect(spawns(a).map(\.id) == [0, 1] && spawns(a).allSatisfy { $0.generation == 1 })
        run(&m, a)
        #expect(!m.anyReady && !m.firstGenerationReady)
        #expect(m.nextDeadline == t(1))
        run(&m, m.tick(now: t(0.9)))
        #expect(!m.anyReady)
        run(&m, m.tick(now: t(1)))
        #expect(pids(m, state: .ready) == [1000, 1001] && m.firstGenerationReady && m.nextDeadline == nil)
    }

    @Test func notify_readyOnlyOnREADY1_fromThatWorker_andKeepsSTATUS() {
        var m = M(settings: settings(readiness: .notify))
        run(&m, m.start(now: t(0)))
        #expect(m.nextDeadline == t(10))
        _ = m.notified(pid: 1000, fields: [("STATUS", "warming up")], now: t(0.5))
        _ = m.notified(pid: 4242, fields: [("READY", "1")], now: t(0.5))
        #expect(!m.anyReady)
        _ = m.notified(pid: 1000, fields: [("READY", "1")], now: t(0.6))
        #expect(pids(m, state: .ready) == [1000] && !m.firstGenerationReady)
        #expect(m.worker(pid: 1000)?.status == "warming up")
    }

    @Test func unaskedExit_respawnsAfterBackoff_doubling_resetAfter30sUp() {
        var m = serving()
        var a = m.exited(pid: 1000, reason: .signal(SIGKILL), now: t(5))
        #expect(a.contains(.report(.respawning(id: 0, after: .milliseconds(100)))))
        #expect(m.workers.first { $0.id == 0 }?.state == .backoff && m.slots[0].lastExit?.reason == .signal(SIGKILL))
        #expect(m.slots[0].lastExit?.expected == false, "a crash reads as one")
        a = run(&m, m.tick(now: t(5.1)))
        #expect(m.slots[0].restarts == 1)
        let second = m.workers.first { $0.id == 0 && $0.state == .starting }!.pid!
        // Dies again after 2 s up (ready, so not a crash loop): the delay doubles.
        run(&m, m.tick(now: t(6.1)))
        a = m.exited(pid: second, reason: .code(1), now: t(7.1))
        #expect(a.contains(.report(.respawning(id: 0, after: .milliseconds(200)))))
        run(&m, m.tick(now: t(7.3)))
        let third = m.workers.first { $0.id == 0 && $0.state == .starting }!.pid!
        run(&m, m.tick(now: t(8.3)))
        // Up 40 s this time: back to 100 ms.
        a = m.exited(pid: third, reason: .code(1), now: t(47.3))
        #expect(a.contains(.report(.respawning(id: 0, after: .milliseconds(100)))))
        #expect(m.slots[0].restarts == 2 && !m.slots[0].crashLooping)
    }

    @Test func dyingBeforeReady_threeTimes_isACrashLoop_outOfRotationWhenNoneReady() {
        var m = M(settings: settings(workers: 1))
        run(&m, m.start(now: t(0)))
        var now = 0.2
        var reports: [M.Action] = []
        for _ in 0..<3 {
            let pid = m.workers[0].pid!
            reports += m.exited(pid: pid, reason: .code(2), now: t(now))
            now += 20
            run(&m, m.tick(now: t(now)))
            now += 0.2
        }
        #expect(reports.contains(.report(.crashLooping(id: 0, deaths: 3))))
        #expect(m.slots[0].crashLooping && !m.anyReady)
        // Ready at last: the loop is over.
        run(&m, m.tick(now: t(now + 1)))
        #expect(m.anyReady && !m.slots[0].crashLooping)
    }

    @Test func notReadyInTime_isStopped_thenRespawned() {
        var m = M(settings: settings(workers: 1, readiness: .notify))
        run(&m, m.start(now: t(0)))
        let a = m.tick(now: t(10))
        #expect(a.contains(.report(.notReadyInTime(id: 0, pid: 1000))) && signals(a).first! == (1000, SIGTERM))
        let b = m.exited(pid: 1000, reason: .code(0), now: t(11))
        #expect(b.contains(.report(.respawning(id: 0, after: .milliseconds(100)))))
    }

    @Test func reload_startsANewGeneration_stopsTheOldOnlyWhenAllNewAreReady() throws {
        var m = serving()
        let (op, a) = try m.reload(now: t(2)).get()
        #expect(op.generation == 2 && spawns(a).map(\.generation) == [2, 2])
        run(&m, a)
        #expect(signals(a).isEmpty)
        #expect(signals(m.tick(now: t(2.5))).isEmpty && m.generation == 1)
        let done = m.tick(now: t(3))
        #expect(signals(done).map(\.0).sorted() == [1000, 1001] && signals(done).allSatisfy { $0.1 == SIGTERM })
        #expect(m.generation == 2 && m.operation == nil && m.lastReload?.result == .succeeded)
        #expect(pids(m, state: .stopping) == [1000, 1001] && pids(m, state: .ready) == [1002, 1003])
        // The old ones exit: gone from the list. One lingers: SIGKILL after the stop timeout.
        _ = m.exited(pid: 1000, reason: .code(0), now: t(3.5))
        let kill = m.tick(now: t(8))
        #expect(signals(kill).first! == (1001, SIGKILL) && kill.contains(.report(.killed(id: 1, pid: 1001))))
        _ = m.exited(pid: 1001, reason: .signal(SIGKILL), now: t(8.01))
        #expect(m.workers.map(\.generation) == [2, 2] && m.reloadResults[.succeeded] == 1)
        #expect(m.slots[0].lastExit?.expected == true && m.slots[1].lastExit?.expected == true, "replaced, not crashed")
    }

    @Test func reload_whileAWorkerWaitsForItsRespawn_endsOnREADY_thenSTATUS_inOneMessage() throws {
        // Found by a soak: the reload's end drops the waiting entry, moving the indexes.
        var m = M(settings: settings(readiness: .notify))
        run(&m, m.start(now: t(0)))
        for pid: pid_t in [1000, 1001] { _ = m.notified(pid: pid, fields: [("READY", "1")], now: t(0.5)) }
        _ = m.exited(pid: 1000, reason: .signal(SIGKILL), now: t(1))
        run(&m, try m.reload(now: t(1.05)).get().1)
        _ = m.notified(pid: 1002, fields: [("READY", "1"), ("STATUS", "up")], now: t(1.1))
        let done = m.notified(pid: 1003, fields: [("READY", "1"), ("STATUS", "up too")], now: t(1.1))
        #expect(signals(done).map(\.0) == [1001] && m.lastReload?.result == .succeeded)
        #expect(m.workers.filter { $0.generation == 2 }.map(\.status) == ["up", "up too"])
        #expect(!m.workers.contains { $0.state == .backoff })
        _ = m.exited(pid: 1001, reason: .code(0), now: t(2))
        #expect(m.tick(now: t(60)).isEmpty && m.workers.count == 2)
    }

    @Test func reload_whileOneRuns_isRefused_notQueued() throws {
        var m = serving()
        run(&m, try m.reload(now: t(2)).get().1)
        guard case .failure(.busy(let running)) = m.reload(now: t(2.1)) else {
            Issue.record("second reload accepted")
            return
        }
        #expect(running.generation == 2)
        guard case .failure(.busy) = m.replace(id: 0, reason: "request", now: t(2.1)) else {
            Issue.record("replacement accepted")
            return
        }
    }

    @Test func brokenRelease_newWorkerExits_rollsBack_oldKeepsServing() throws {
        var m = serving()
        run(&m, try m.reload(now: t(2)).get().1)
        let a = m.exited(pid: 1002, reason: .code(3), now: t(2.1))
        #expect(signals(a).map(\.0) == [1003])
        #expect(m.lastReload?.result == .rolledBack && m.lastReload?.error?.contains("exited (exit code 3)") == true)
        #expect(m.generation == 1 && pids(m, state: .ready) == [1000, 1001] && m.reloadResults[.rolledBack] == 1)
        _ = m.exited(pid: 1003, reason: .code(0), now: t(2.2))
        #expect(m.workers.count == 2 && m.workers.allSatisfy { $0.generation == 1 && $0.state == .ready })
        // Nothing of the failed generation is respawned, and a next reload is accepted.
        #expect(m.tick(now: t(60)).isEmpty)
        #expect(try m.reload(now: t(61)).get().0.generation == 3)
    }

    @Test func brokenRelease_neverReady_rollsBackAtTheReadyTimeout() throws {
        var m = M(settings: settings(readiness: .notify))
        run(&m, m.start(now: t(0)))
        _ = m.notified(pid: 1000, fields: [("READY", "1")], now: t(1))
        _ = m.notified(pid: 1001, fields: [("READY", "1")], now: t(1))
        run(&m, try m.reload(now: t(2)).get().1)
        _ = m.notified(pid: 1002, fields: [("READY", "1")], now: t(3))
        let a = m.tick(now: t(12))
        #expect(signals(a).map(\.0).sorted() == [1002, 1003] && m.lastReload?.result == .rolledBack)
        #expect(m.lastReload?.error?.contains("not ready within 10s") == true && pids(m, state: .ready) == [1000, 1001])
    }

    @Test func replace_startsTheSuccessorFirst_thenStopsTheOld() throws {
        var m = serving()
        guard case .failure(.noSuchWorker(7)) = m.replace(id: 7, reason: "request", now: t(2)) else {
            Issue.record("no refusal")
            return
        }
        let (op, a) = try m.replace(id: 1, reason: "memory", now: t(2)).get()
        #expect(op.kind == .replace(id: 1, reason: "memory") && spawns(a).map(\.id) == [1] && spawns(a)[0].generation == 1)
        run(&m, a)
        let done = m.tick(now: t(3))
        #expect(
            signals(done).map(\.0) == [1001] && m.slots[1].restarts == 1 && m.lastReplacement?.result == .succeeded && m.lastReload == nil)
    }

    @Test func shutdown_stopsEveryWorker_killsAfterTheTimeout_noRespawn_cancelsAReload() throws {
        var m = serving()
        _ = m.exited(pid: 1001, reason: .code(1), now: t(2))  // slot 1 in backoff
        run(&m, try m.reload(now: t(2)).get().1)
        let a = m.shutdown(now: t(3))
        #expect(signals(a).map(\.0).sorted() == [1000, 1002, 1003] && signals(a).allSatisfy { $0.1 == SIGTERM })
        #expect(m.lastReload?.result == .cancelled && m.refusal() == .shuttingDown)
        _ = m.exited(pid: 1000, reason: .code(0), now: t(3.5))
        _ = m.exited(pid: 1002, reason: .code(0), now: t(3.5))
        #expect(!m.isStopped)
        let kill = m.tick(now: t(8))
        #expect(signals(kill).map(\.0) == [1003] && signals(kill)[0].1 == SIGKILL)
        let end = m.exited(pid: 1003, reason: .signal(SIGKILL), now: t(8.1))
        #expect(m.isStopped && end.contains(.report(.allStopped)))
        #expect(m.workers.allSatisfy { $0.state == .exited } && spawns(m.tick(now: t(100))).isEmpty)
    }

    @Test func spawnFailure_countsAsAnExit_andBacksOff() {
        var m = M(settings: settings(workers: 1))
        let a = m.start(now: t(0))
        guard case .spawn(let key, _, _) = a[0] else {
            Issue.record("no spawn")
            return
        }
        let b = m.spawnFailed(key: key, now: t(0))
        #expect(b.contains(.report(.respawning(id: 0, after: .milliseconds(100)))) && m.slots[0].lastExit?.reason == .code(127))
    }
}
