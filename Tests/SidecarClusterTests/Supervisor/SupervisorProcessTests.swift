import Foundation
import SidecarTestSupport
import Testing

@testable import SidecarPosix

/// `cluster-sidecar run` through the built binary, a real worker program (Python, taking fd 3)
/// and real sockets: the shared port, respawns, rolling restarts under load, rollbacks, shutdown.
@Suite(.serialized) struct SupervisorProcessTests {
    @Test func bothWorkers_serveTheSharedPort_withTheSystemdVariables() throws {
        let app = try SupervisedApp(workers: 2)
        #expect(app.waitReady(2))
        // The worker exits 4 unless LISTEN_FDS=1, LISTEN_PID=its pid, LISTEN_FDNAMES=app.
        var seen: Set<Int> = []
        for _ in 0..<400 where seen.count < 2 {
            if let w = app.hit()?["worker"] as? Int { seen.insert(w) }
        }
        #expect(seen == [0, 1])
        let status = try app.status()
        let socket = status["socket"] as? [String: Any]
        #expect(socket?["address"] as? String == "127.0.0.1:\(app.app)" && socket?["acceptQueue"] as? Int == 0)
        let workers = status["workers"] as? [[String: Any]] ?? []
        #expect(
            workers.map { $0["id"] as? Int } == [0, 1]
                && workers.allSatisfy { ($0["rssBytes"] as? Int ?? 0) > 0 && $0["generation"] as? Int == 1 })
        #expect(try app.local("GET", "/readyz").status == 200)
        let metrics = try RawClient(port: app.local)
        try metrics.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try metrics.readResponse().bodyText.contains(#"cluster_sidecar_app_workers{state="ready"} 2.0"#))
    }

    @Test func rollingRestart_onSIGUSR2_underSteadyLoad_losesNoRequest() throws {
        let app = try SupervisedApp(workers: 2)
        #expect(app.waitReady(2))
        let old = try app.readyPIDs()
        let load = SteadyLoad(app)
        #expect(load.waitForAnswers())
        app.process.signal(SIGUSR2)
        let rolled = SupervisedApp.waitUntil(15) {
            let last = try app.status()["lastReload"] as? [String: Any]
            return last?["result"] as? String == "succeeded"
        }
        // The new generation answers, and keeps answering once the old one has gone.
        #expect(load.waitForGeneration(2) && load.waitForAnswers())
        let counts = load.stop()
        #expect(rolled)
        #expect(counts.failed == 0, "\(counts.failed) of \(counts.ok + counts.failed) requests failed")
        #expect(counts.ok > 20 && counts.generations == [1, 2])
        #expect(SupervisedApp.waitUntil { try app.readyPIDs().count == 2 && old.values.allSatisfy { !SupervisedApp.alive($0) } })
        #expect(try app.workers().allSatisfy { $0["generation"] as? Int == 2 } && app.hit()?["generation"] as? Int == 2)
    }

    @Test func brokenRelease_isRolledBack_underLoad_losesNoRequest_andTheCommandSaysSo() throws {
        let app = try SupervisedApp(workers: 2)
        #expect(app.waitReady(2))
        let old = try app.readyPIDs()
        try app.setMode("crash")
        let load = SteadyLoad(app)
        let reload = try SidecarProcess.run(["reload", "--local-port", "\(app.local)", "--wait", "20"])
        // The old generation keeps answering after the rollback.
        #expect(load.waitForAnswers(more: 5))
        let counts = load.stop()
        #expect(reload.status == 1 && reload.err.contains("rolled_back") && reload.err.contains("exit code 3"), "\(reload)")
        #expect(counts.failed == 0 && counts.ok > 0 && counts.generations == [1], "\(counts)")
        #expect(try app.readyPIDs() == old)
        let status = try app.status()
        #expect(status["generation"] as? Int == 1 && (status["reloads"] as? [String: Int])?["rolled_back"] == 1)
    }

    @Test func killedWorker_isRespawned_andCounted() throws {
        let app = try SupervisedApp(workers: 2)
        #expect(app.waitReady(2))
        let victim = try #require(try app.readyPIDs()[0])
        kill(victim, SIGKILL)
        // One snapshot: two reads could see the victim still listed, then its slot in backoff.
        #expect(
            SupervisedApp.waitUntil {
                let pids = try app.readyPIDs()
                return pids.count == 2 && pids[0] != victim
            })
        let w0 = try #require(try app.workers().first { $0["id"] as? Int == 0 })
        #expect(w0["restarts"] as? Int == 1 && (w0["lastExit"] as? [String: Any])?["signal"] as? Int == 9)
        #expect(try app.status()["restarts"] as? Int == 1)
    }

    @Test func sigterm_letsTheRequestInFlightFinish_stopsEveryWorker_exits0_removingThePidFiles() throws {
        let dir = NSTemporaryDirectory() + "pids-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let app = try SupervisedApp(workers: 2, environment: ["APP_PID_DIR": dir])
        #expect(app.waitReady(2))
        let ready = try app.readyPIDs()
        let pids = ready.values
        for (id, pid) in ready {
            #expect((try? String(contentsOfFile: "\(dir)/worker-\(id).pid", encoding: .utf8)) == "\(pid)\n")
        }
        let slow = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var answer: [String: Any]?
        Thread.detachNewThread {
            answer = app.hit("/slow?ms=1200")
            slow.signal()
        }
        #expect(app.process.waitForLine(containing: "worker: slow request started") != nil)
        app.process.signal(SIGTERM)
        slow.wait()
        #expect(answer?["worker"] != nil)
        #expect(app.process.waitForExit(timeout: 10) == 0)
        #expect(pids.allSatisfy { !SupervisedApp.alive($0) })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func killingTheSidecar_takesTheWorkersWithIt() throws {
        let app = try SupervisedApp(workers: 2)
        #expect(app.waitReady(2))
        let pids = try app.readyPIDs().values
        app.process.signal(SIGKILL)
        #expect(SupervisedApp.waitUntil(5) { pids.allSatisfy { !SupervisedApp.alive($0) } })
    }

    @Test func busyAppPort_exits98_namingIt_beforeAnyWorkerStarts() throws {
        // A listener already on the port.
        let busy = try StubServer { _ in }
        let port = busy.port
        let marker = NSTemporaryDirectory() + "worker-started-\(UUID().uuidString)"
        let r = try SidecarProcess.run(
            ["run", "--app-address", "127.0.0.1", "--app-port", "\(port)", "--", "sh", "-c", "touch \(marker)"],
            environment: ["LOCAL_PORT": "0", "CLUSTER_PORT": "0"])
        #expect(r.status == 98 && r.err.contains("APP_PORT") && r.err.contains("\(port)"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func run_withoutACommand_orWithABadSetting_exits64_withOneLine() throws {
        let none = try SidecarProcess.run(["run"], environment: ["LOCAL_PORT": "0", "CLUSTER_PORT": "0"])
        #expect(none.status == 64 && none.err.contains("after --") && none.err.split(separator: "\n").count == 1, "\(none)")
        let bad = try SidecarProcess.run(
            ["run", "--app-ready", "soon", "--", "true"], environment: ["LOCAL_PORT": "0", "CLUSTER_PORT": "0"])
        #expect(bad.status == 64 && bad.err.contains("--app-ready"), "\(bad)")
    }

    @Test func notifyReadiness_status_replacementOnRequest_andASecondReloadRefused() throws {
        let app = try SupervisedApp(workers: 2, environment: ["APP_READY": "notify"])
        #expect(app.waitReady(2))
        #expect(try app.workers().map { $0["status"] as? String } == ["serving as worker 0", "serving as worker 1"])
        let before = try app.readyPIDs()
        let replace = try app.local("POST", "/app/workers/1/restart")
        #expect(replace.status == 202 && replace.body["kind"] as? String == "replace" && replace.body["worker"] as? Int == 1)
        #expect(try app.local("POST", "/app/reload").status == 409)
        #expect(
            SupervisedApp.waitUntil {
                let pids = try app.readyPIDs()
                return pids.count == 2 && pids[0] == before[0] && pids[1] != before[1] && !SupervisedApp.alive(before[1]!)
            })
        #expect(try app.local("POST", "/app/workers/9/restart").status == 404)
        #expect(try app.local("POST", "/app/workers/x/restart").status == 400)
    }

    @Test func notify_fromAProcessTheWorkerStarted_countsForTheWorker() throws {
        let app = try SupervisedApp(workers: 1, environment: ["APP_READY": "notify"], throughShell: true)
        #expect(app.waitReady(1))
        let worker = try #require(try app.workers().first)
        let served = try #require(app.hit()?["pid"] as? Int32)
        // The worker is the shell; READY=1 and STATUS= came from its child, the server.
        #expect(worker["pid"] as? Int32 != served && worker["status"] as? String == "serving as worker 0")
    }

    @Test func crashLoop_isShown_andTakesTheSidecarOutOfRotation() throws {
        let app = try SupervisedApp(workers: 1, mode: "crash")
        #expect(SupervisedApp.waitUntil { try app.workers().first?["crashLooping"] as? Bool == true })
        let ecv = try app.local("GET", "/ecv")
        #expect(ecv.status == 503 && "\(ecv.body)".contains("no application worker is ready"))
        #expect(try app.local("GET", "/readyz").status == 503)
        try app.setMode("serve")
        #expect(SupervisedApp.waitUntil(20) { try app.local("GET", "/ecv").status == 200 })
    }

    @Test func registration_waitsForTheFirstGeneration_withTheServerURLFromAPP_PORT() throws {
        let (registry, port) = try SidecarProcess.registry(leaseTime: 30)
        defer {
            registry.signal(SIGTERM)
            _ = registry.waitForExit()
        }
        var env = SidecarProcess.memberEnvironment(registry: port)
        env["SERVER_URL"] = nil
        env["APP_READY"] = "1.5"
        let app = try SupervisedApp(workers: 2, environment: env)
        let early = try app.local("GET", "/status").body
        #expect(early["REGISTRATION_STATUS"] as? String == "waiting" || early["REGISTRATION_STATUS"] as? String == nil, "\(early)")
        #expect((early["registration"] as? [String: Any])?["serverId"] == nil)
        #expect(SupervisedApp.waitUntil(10) { try app.local("GET", "/status").body["REGISTRATION_STATUS"] as? String == "registered" })
        #expect(try app.readyPIDs().count == 2)
        let me = try app.local("GET", "/status").body["server"] as? [String: Any]
        #expect(me?["url"] as? String == "http://127.0.0.1:\(app.app)")
        #expect(try app.local("GET", "/readyz").status == 200)
    }

    @Test func maxMemory_replacesAWorkerAbove_it_rolling() throws {
        // 1 MiB: every Python worker is above it, so each is replaced in turn, never two at once.
        let app = try SupervisedApp(workers: 2, environment: ["APP_MAX_MEMORY": "1"])
        #expect(
            SupervisedApp.waitUntil(10) {
                let last = try app.status()["lastReplacement"] as? [String: Any]
                return last?["reason"] as? String == "memory" && last?["result"] as? String == "succeeded"
            })
        #expect(try app.status()["restarts"] as? Int ?? 0 >= 1)
        #expect(app.hit() != nil)
    }

    @Test func statusCommand_showsTheWorkersTable() throws {
        let app = try SupervisedApp(workers: 2)
        #expect(app.waitReady(2))
        let r = try SidecarProcess.run(["status", "--local-port", "\(app.local)"])
        #expect(r.status == 0)
        #expect(r.out.contains("WORKERS: generation 1, socket 127.0.0.1:\(app.app)"), "\(r.out)")
        #expect(r.out.contains("ID  PID") && r.out.components(separatedBy: "  ready  ").count - 1 == 2, "\(r.out)")
    }
}

/// Each generation after the first gets its own socket on the application's port, joined to the
/// serving one's SO_REUSEPORT group; the old one closes once its workers have gone. Another
/// process (another `run`) still cannot take the port.
@Suite(.serialized) struct SupervisorHandoverTests {
    /// Listening sockets on `port`, from `/proc/net/tcp`.
    func listeners(_ port: UInt16) -> Int {
        TCPTableRow.rows(ProcFile.read("/proc/net/tcp") ?? "").count { $0.localPort == port && $0.state == 0x0A }
    }

    @Test func aReload_opensTheNewGenerationsSocket_andClosesTheOldOne_twice() throws {
        let app = try SupervisedApp(workers: 1)
        #expect(app.waitReady(1))
        #expect(listeners(app.app) == 1)
        for generation in 2...3 {
            app.process.signal(SIGUSR2)
            #expect(SupervisedApp.waitUntil(10) { listeners(app.app) == 2 }, "the new generation's socket joins")
            #expect(
                SupervisedApp.waitUntil(15) {
                    try app.workers().allSatisfy { $0["generation"] as? Int == generation && $0["state"] as? String == "ready" }
                        && listeners(app.app) == 1
                }, "the old one closes with its workers")
            #expect(app.hit()?["generation"] as? Int == generation, "new connections reach the new generation")
        }
    }

    @Test func anotherRun_onTheSamePort_isStillRefused() throws {
        let app = try SupervisedApp(workers: 1)
        #expect(app.waitReady(1))
        let r = try SidecarProcess.run(
            ["run", "--app-address", "127.0.0.1", "--app-port", "\(app.app)", "--", "sh", "-c", "sleep 5"],
            environment: ["LOCAL_PORT": "0", "CLUSTER_PORT": "0"])
        #expect(r.status == 98 && r.err.contains("APP_PORT"), "\(r)")
    }
}
