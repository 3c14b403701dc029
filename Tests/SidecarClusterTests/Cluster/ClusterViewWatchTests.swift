import Synchronization
import Testing

@testable import SidecarCluster

/// The view's index, its changes as events, and what waits for them.
@Suite struct ClusterViewWatchTests {
    func server(_ id: String, _ url: String = "http://a") -> ServerInfo { ServerInfo(id: id, type: "t", url: url, clusterUrl: url) }

    final class Received: Sendable {
        let events = Mutex<[ClusterView.Event]>([])
        let start = Mutex<String>("")
        let ended = Mutex(0)
        let pings = Mutex(0)
    }

    func subscribe(_ view: ClusterView, after index: UInt64?, _ r: Received, keep: @escaping @Sendable () -> Bool = { true }) -> Int {
        view.subscribe(
            after: index,
            start: { start in
                switch start {
                case .snapshot(let s): r.start.withLock { $0 = "snapshot \(s.index) \(s.servers.map(\.id))" }
                case .events(let e): r.start.withLock { $0 = "events \(e.map(\.index))" }
                }
            },
            deliver: { events in
                if events.isEmpty { r.pings.withLock { $0 += 1 } }
                r.events.withLock { $0 += events }
                return keep()
            },
            ended: { r.ended.withLock { $0 += 1 } })
    }

    @Test func aRegistrationAnswer_keepsThePushesThatArrivedWhileItRan() {
        let view = ClusterView()
        view.replace(with: [server("me"), server("old"), server("leaving")])
        let sent = view.index
        // While the registration call runs: a join, an update and a leave are pushed.
        view.upsert(server("joined"))
        view.upsert(server("old", "http://new"))
        _ = view.remove("leaving")
        // The answer was made before them.
        view.replace(with: [server("me"), server("old"), server("leaving"), server("other")], keepingChangesAfter: sent)
        #expect(view.snapshot().servers.map(\.id) == ["me", "old", "other", "joined"])
        #expect(view.snapshot().servers.first { $0.id == "old" }?.url == "http://new")
        // Without changes since, the answer is the view.
        let again = view.index
        view.replace(with: [server("me")], keepingChangesAfter: again)
        #expect(view.snapshot().servers.map(\.id) == ["me"])
        // Changes no longer at hand: the answer replaces the view as it is.
        let long = view.index
        for k in 0..<(ClusterView.recentKept + 1) { view.upsert(server("p\(k)")) }
        view.replace(with: [server("me")], keepingChangesAfter: long)
        #expect(view.snapshot().servers.map(\.id) == ["me"])
    }

    @Test func everyChange_hasItsIndex_andNoChangeHasNone() {
        let view = ClusterView()
        let r = Received()
        _ = subscribe(view, after: nil, r)
        #expect(r.start.withLock { $0 } == "snapshot 0 []")
        view.upsert(server("a"))
        view.upsert(server("a"))  // the same: nothing changed
        view.upsert(server("a", "http://b"))
        view.replace(with: [server("a", "http://b"), server("c")])
        view.replace(with: [server("c", "http://d")])
        view.remove("nobody")
        view.noteRegistration("registering")
        view.noteRegistration("registering")
        let got = r.events.withLock { $0 }.map { "\($0.index) \($0.kind.rawValue) \($0.server?.id ?? $0.registration ?? "-")" }
        #expect(
            got == [
                "1 server-added a", "2 server-updated a", "3 server-added c", "4 server-removed a", "5 server-updated c",
                "6 registration registering",
            ])
        #expect(view.snapshot().index == 6)
    }

    @Test func aResumedSubscriber_getsWhatCameAfter_orTheWholeViewWhenTooFarBehind() {
        let view = ClusterView()
        for k in 0..<3 { view.upsert(server("s\(k)")) }
        let resumed = Received()
        _ = subscribe(view, after: 1, resumed)
        #expect(resumed.start.withLock { $0 } == "events [2, 3]")
        let current = Received()
        _ = subscribe(view, after: 3, current)
        #expect(current.start.withLock { $0 } == "events []")
        let ahead = Received()
        _ = subscribe(view, after: 99, ahead)
        #expect(ahead.start.withLock { $0 } == "snapshot 3 [\"s0\", \"s1\", \"s2\"]", "an index from before a restart")
        for k in 0..<ClusterView.recentKept { view.upsert(server("t\(k)")) }
        let behind = Received()
        _ = subscribe(view, after: 1, behind)
        #expect(behind.start.withLock { $0 }.hasPrefix("snapshot \(3 + ClusterView.recentKept) "))
    }

    @Test func aSubscriber_thatStops_orUnsubscribes_endsOnce() {
        let view = ClusterView()
        let keep = Atomic<Bool>(true)
        let r = Received()
        let id = subscribe(view, after: nil, r, keep: { keep.load(ordering: .relaxed) })
        view.ping()
        #expect(r.pings.withLock { $0 } == 1 && view.subscriberCount == 1)
        keep.store(false, ordering: .relaxed)
        view.upsert(server("a"))
        #expect(view.subscriberCount == 0 && r.ended.withLock { $0 } == 1)
        view.unsubscribe(id)
        #expect(r.ended.withLock { $0 } == 1)
        let other = Received()
        let second = subscribe(view, after: nil, other)
        view.unsubscribe(second)
        view.unsubscribe(second)
        #expect(other.ended.withLock { $0 } == 1)
    }

    @Test func aBlockingWait_endsAtTheChange_orAtItsTimeout() async {
        let view = ClusterView()
        view.upsert(server("a"))
        let clock = ContinuousClock()
        var t = clock.now
        await view.waitForChange(from: 0, timeout: .seconds(5))
        #expect(clock.now - t < .milliseconds(100), "an index that differs answers at once")
        t = clock.now
        async let waited: Void = view.waitForChange(from: 1, timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(50))
        view.remove("a")
        await waited
        #expect(clock.now - t < .seconds(1))
        t = clock.now
        await view.waitForChange(from: 2, timeout: .milliseconds(100))
        #expect(clock.now - t >= .milliseconds(100) && clock.now - t < .seconds(2))
    }

    @Test func waitsAndDurations_areReadFromTheQuery() {
        #expect(WatchRoutes.query(nil) == .now)
        #expect(WatchRoutes.query("x=1") == .now)
        #expect(WatchRoutes.query("index=7&wait=30s") == .blocking(index: 7, wait: .seconds(30)))
        #expect(WatchRoutes.query("wait=500ms&index=0") == .blocking(index: 0, wait: .milliseconds(500)))
        #expect(WatchRoutes.query("index=7") == .blocking(index: 7, wait: WatchRoutes.defaultWait))
        #expect(WatchRoutes.query("index=7&wait=20m") == .blocking(index: 7, wait: WatchRoutes.longestWait))
        #expect(WatchRoutes.query("index=-1") == .bad)
        #expect(WatchRoutes.query("index=9007199254740992") == .bad)
        #expect(WatchRoutes.query("index=") == .bad && WatchRoutes.query("index") == .bad && WatchRoutes.query("index=1&wait=") == .bad)
        #expect(WatchRoutes.query("index=7&wait=soon") == .bad)
        #expect(WatchRoutes.duration("500ms") == .milliseconds(500) && WatchRoutes.duration("2m") == .seconds(120))
        #expect(WatchRoutes.duration("1.5") == .milliseconds(1500) && WatchRoutes.duration("x") == nil && WatchRoutes.duration("+1") == nil)
    }
}
