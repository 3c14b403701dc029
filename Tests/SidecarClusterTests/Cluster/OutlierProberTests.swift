import SidecarClient
import SidecarPosix
import Synchronization
import Testing

@testable import SidecarCluster

/// The active checks of ejected nodes, on a manual clock with a scripted check.
@Suite struct OutlierProberTests {
    let clock = ManualClock()
    let dead = ServerInfo(id: "dead", type: "t", url: "http://10.0.0.9:80", clusterUrl: "http://10.0.0.9:8462")
    let alive = ServerInfo(id: "alive", type: "t", url: "http://10.0.0.8:80", clusterUrl: "http://10.0.0.8:8462")

    func eject(_ outliers: Outliers) {
        outliers.learn([dead, alive], [.failure(.connect), .failure(ClientError(.badResponse, "x"))], clusterSize: 4, now: clock.now)
    }

    @Test func anEjectedNode_isCheckedOnItsClusterURL_everyInterval_andReadmittedOnItsFirstAnswer() async {
        let outliers = Outliers(policy: .init(ejectTime: .seconds(60)))
        eject(outliers)
        #expect(outliers.ejected(now: clock.now).map(\.url) == [dead.url])
        let checked = Mutex<[String]>([])
        let answers = Mutex([false, true])
        let prober = OutlierProber(outliers: outliers, interval: .seconds(2), clock: clock) { url in
            checked.withLock { $0.append(url) }
            return answers.withLock { $0.isEmpty ? true : $0.removeFirst() }
        }
        let task = Task { await prober.run() }
        defer { task.cancel() }
        await clock.waitForSleepers()
        #expect(checked.withLock { $0 }.isEmpty, "nothing before the first interval")
        clock.advance(by: .seconds(2))
        await clock.waitForSleepers()
        #expect(checked.withLock { $0 } == ["http://10.0.0.9:8462"])
        #expect(outliers.ejected(now: clock.now).count == 1, "the check failed: still ejected")
        clock.advance(by: .seconds(2))
        await clock.waitForSleepers()
        #expect(checked.withLock { $0 }.count == 2)
        #expect(outliers.ejected(now: clock.now).isEmpty, "readmitted within two intervals of answering")
        clock.advance(by: .seconds(2))
        await clock.waitForSleepers()
        #expect(checked.withLock { $0 }.count == 2, "no check while nothing is ejected")
    }

    @Test func theReadyURL_hasNoDoubledSlash() {
        #expect(OutlierProber.readyURL("http://a:1") == "http://a:1/readyz")
        #expect(OutlierProber.readyURL("http://a:1/") == "http://a:1/readyz")
    }
}
