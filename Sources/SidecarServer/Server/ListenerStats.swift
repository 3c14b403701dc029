import SidecarHTTP
import SidecarPosix
import Synchronization

/// One listener's stats since the server started, summed over the event loops.
package struct ListenerStats: Sendable, Equatable, Codable {
    /// The listener's name (`cluster`, `local`, ...).
    package var listener: String
    package var openConnections: Int
    /// Connections accepted and kept (the ones refused at the connection limit are not counted).
    package var totalConnections: Int
    /// Answers by status class: `1xx` (never sent as a final answer: always 0) to `5xx`.
    package var requests: [String: Int]
    package var bytesIn: Int
    package var bytesOut: Int

    package init(listener: String, openConnections: Int, totalConnections: Int, requests: [String: Int], bytesIn: Int, bytesOut: Int) {
        self.listener = listener
        self.openConnections = openConnections
        self.totalConnections = totalConnections
        self.requests = requests
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
    }
}

/// What the server tells its observer of each answer, on the event loop that wrote it.
package struct AnsweredRequest: Sendable {
    /// The event loop (0 ..< loop count): an observer may keep per-loop state without locks.
    package var loop: Int
    /// The listener's index, in the order the server was given them.
    package var listener: Int
    /// The route's index in that listener's `routePatterns` (0: `unmatched`), or
    /// `AnsweredRequest.refused` for requests the server answered before routing (400, 408,
    /// 413, 431, ...).
    package var route: Int
    package var method: MethodLabel
    package var status: Int
    /// From the complete request head to the answer being queued, in nanoseconds of the real
    /// monotonic clock (0 for refusals). An integer: splitting a `Duration` costs a 128-bit division.
    package var nanoseconds: Int64

    package var duration: Duration { .nanoseconds(nanoseconds) }

    /// The route index of requests refused before routing.
    package static let refused = -1

    package init(loop: Int, listener: Int, route: Int, method: MethodLabel, status: Int, nanoseconds: Int64) {
        self.loop = loop
        self.listener = listener
        self.route = route
        self.method = method
        self.status = status
        self.nanoseconds = nanoseconds
    }
}

/// The metrics hook: told of every answer, on the loop's thread, with no allocation. It must
/// be quick and must not block (a lock held briefly is fine).
package protocol RequestObserver: AnyObject, Sendable {
    /// Once, when the server starts: its loop count and each listener's name and route patterns.
    func serverStarted(loops: Int, listeners: [(name: String, routes: [String])])
    /// One answer was queued.
    func answered(_ request: AnsweredRequest)
}

/// One loop's counters for one listener. Only that loop adds; anyone may read. Relaxed atomics
/// on a line no other loop writes: no contention on the request path.
final class ListenerStatsCell: Sendable {
    let accepted = Atomic<Int>(0)
    let closed = Atomic<Int>(0)
    // Answers by status class.
    let c1xx = Atomic<Int>(0)
    let c2xx = Atomic<Int>(0)
    let c3xx = Atomic<Int>(0)
    let c4xx = Atomic<Int>(0)
    let c5xx = Atomic<Int>(0)
    let bytesIn = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)

    @inline(__always)
    func count(status: Int) {
        switch status / 100 {
        case 1: c1xx.add(1, ordering: .relaxed)
        case 2: c2xx.add(1, ordering: .relaxed)
        case 3: c3xx.add(1, ordering: .relaxed)
        case 4: c4xx.add(1, ordering: .relaxed)
        default: c5xx.add(1, ordering: .relaxed)
        }
    }

    /// The sum of `cells` as one listener's figures.
    static func total(_ cells: [ListenerStatsCell], listener: String) -> ListenerStats {
        var t = ListenerStats(listener: listener, openConnections: 0, totalConnections: 0, requests: [:], bytesIn: 0, bytesOut: 0)
        var classes = [0, 0, 0, 0, 0]
        var closed = 0
        for c in cells {
            t.totalConnections += c.accepted.load(ordering: .relaxed)
            closed += c.closed.load(ordering: .relaxed)
            classes[0] += c.c1xx.load(ordering: .relaxed)
            classes[1] += c.c2xx.load(ordering: .relaxed)
            classes[2] += c.c3xx.load(ordering: .relaxed)
            classes[3] += c.c4xx.load(ordering: .relaxed)
            classes[4] += c.c5xx.load(ordering: .relaxed)
            t.bytesIn += c.bytesIn.load(ordering: .relaxed)
            t.bytesOut += c.bytesOut.load(ordering: .relaxed)
        }
        t.openConnections = max(0, t.totalConnections - closed)
        for (k, n) in classes.enumerated() { t.requests["\(k + 1)xx"] = n }
        return t
    }
}
