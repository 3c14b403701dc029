import SidecarClient
import SidecarPosix

/// When a node is left out of fan-outs (Envoy's outlier detection, in small): what the
/// fan-outs learn of each node, and no clock of its own (each event brings the time).
///
/// A node that fails by `connect` or `timeout` is ejected at once; one that fails by `io` or
/// `bad_response`, after `ejectAfter` such failures in a row. An ejection lasts `ejectTime`,
/// doubled for each ejection before it (at most `maxEjectTime`), unless `readmit` ends it first
/// (an active check answered). At most `maxEjectedPercent` of the cluster's nodes are ejected
/// at once, but always one may be (as Envoy does). Any answer resets the count of failures in a
/// row; the doubling starts again once a node has answered for as long as its last ejection.
package struct OutlierMachine: Sendable {
    /// The thresholds and times.
    package struct Policy: Sendable, Equatable {
        /// Failures by `io` or `bad_response` in a row that eject a node.
        package var ejectAfter: Int
        /// The first ejection's length.
        package var ejectTime: Duration
        /// The longest ejection.
        package var maxEjectTime: Duration
        /// Most of a cluster's nodes ejected at once, in percent (at least one node).
        package var maxEjectedPercent: Int

        package init(
            ejectAfter: Int = 3, ejectTime: Duration = .seconds(5), maxEjectTime: Duration = .seconds(300), maxEjectedPercent: Int = 50
        ) {
            self.ejectAfter = max(1, ejectAfter)
            self.ejectTime = ejectTime
            self.maxEjectTime = maxEjectTime
            self.maxEjectedPercent = min(100, max(0, maxEjectedPercent))
        }
    }

    /// What one node's record holds.
    struct Record {
        var failuresInARow = 0
        var ejections = 0
        /// While ejected: when the ejection ends.
        var ejectedUntil: UInt64?
        /// When the last ejection ended and how long it was (for the doubling's reset).
        var admittedAt: UInt64 = 0
        var lastLength: UInt64 = 0
        /// Where an active check reaches the node while it is ejected (its cluster URL).
        var check: String?
    }

    /// What a recorded outcome changed.
    package enum Change: Equatable, Sendable {
        /// The node is ejected until `until`.
        case ejected(until: MonotonicInstant)
        /// The node is back (its ejection ended, or an active check answered).
        case readmitted
    }

    package let policy: Policy
    /// The failures that count against a node: the others (`too_large`, `cancelled`, ...) say
    /// nothing of its health.
    static let counted: Set<ClientError.Code> = [.connect, .timeout, .io, .badResponse]
    /// Nodes with something to remember, by URL; a node with nothing to remember has no record,
    /// so a healthy cluster costs no look-up at all.
    private(set) var records: [String: Record] = [:]
    private(set) var ejectedCount = 0

    package init(policy: Policy) { self.policy = policy }

    /// Whether any node has a record (when none has, every node is sent to).
    package var isEmpty: Bool { records.isEmpty }

    /// Whether `url` is ejected at `now`; an ejection whose time is up ends here.
    package mutating func isEjected(_ url: String, now: MonotonicInstant) -> Bool {
        guard let until = records[url]?.ejectedUntil else { return false }
        if now.nanoseconds < until { return true }
        readmit(url, now: now)
        return false
    }

    /// When `url`'s ejection ends, if it is ejected.
    package func ejectedUntil(_ url: String) -> MonotonicInstant? {
        records[url]?.ejectedUntil.map { MonotonicInstant(nanoseconds: $0) }
    }

    /// The nodes ejected now, with when each ejection ends and where it may be checked.
    package var ejected: [(url: String, until: MonotonicInstant, check: String?)] {
        records.compactMap { url, r in r.ejectedUntil.map { (url, MonotonicInstant(nanoseconds: $0), r.check) } }.sorted { $0.url < $1.url }
    }

    /// Learns how a request to `url` (one of `clusterSize` nodes, checked at `check` while
    /// ejected) ended: an answer (`nil`) or a failure with `code`.
    @discardableResult
    package mutating func record(
        _ url: String, failure code: ClientError.Code?, clusterSize: Int, check: String? = nil, now: MonotonicInstant
    ) -> Change? {
        let t = now.nanoseconds
        guard let code else {
            guard var r = records[url], r.ejectedUntil == nil else { return nil }
            r.failuresInARow = 0
            if r.ejections > 0 && t &- r.admittedAt >= r.lastLength { r.ejections = 0 }
            if r.ejections == 0 { records[url] = nil } else { records[url] = r }
            return nil
        }
        guard Self.counted.contains(code) else { return nil }
        var r = records[url] ?? Record()
        guard r.ejectedUntil == nil else { return nil }
        r.failuresInARow += 1
        let ejectNow = code == .connect || code == .timeout || r.failuresInARow >= policy.ejectAfter
        guard ejectNow, mayEject(clusterSize: clusterSize) else {
            records[url] = r
            return nil
        }
        let first = UInt64(max(1, policy.ejectTime.nanoseconds))
        let length = min(UInt64(max(1, policy.maxEjectTime.nanoseconds)), first << UInt64(min(r.ejections, 20)))
        r.ejections += 1
        r.failuresInARow = 0
        r.ejectedUntil = t &+ length
        r.lastLength = length
        r.check = check
        records[url] = r
        ejectedCount += 1
        return .ejected(until: MonotonicInstant(nanoseconds: t &+ length))
    }

    /// Ends `url`'s ejection (an active check answered, or its time is up).
    @discardableResult
    package mutating func readmit(_ url: String, now: MonotonicInstant) -> Change? {
        guard var r = records[url], r.ejectedUntil != nil else { return nil }
        r.ejectedUntil = nil
        r.admittedAt = now.nanoseconds
        records[url] = r
        ejectedCount -= 1
        return .readmitted
    }

    /// Forgets nodes no longer in the cluster (`keep` says which are).
    package mutating func retain(_ keep: (String) -> Bool) {
        for (url, r) in records where !keep(url) {
            if r.ejectedUntil != nil { ejectedCount -= 1 }
            records[url] = nil
        }
    }

    /// One more ejection stays within `maxEjectedPercent` of `clusterSize`, or none is ejected.
    private func mayEject(clusterSize: Int) -> Bool {
        ejectedCount == 0 || (ejectedCount + 1) * 100 <= policy.maxEjectedPercent * clusterSize
    }
}
