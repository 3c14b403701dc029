import Logging
import SidecarClient
import SidecarPosix
import Synchronization

/// The fan-outs' shared `OutlierMachine`, for every loop: before a fan-out, which nodes to
/// leave out; after it, what its outcomes say of each node. One short lock per fan-out, and
/// none of the per-node look-ups while no node has failed.
package final class Outliers: Sendable {
    private let machine: Mutex<OutlierMachine>
    /// Whether any node has a record (read without the lock on the healthy path).
    private let anyRecord = Atomic<Bool>(false)
    private let ejections = Atomic<Int>(0)
    private let logger: Logger?

    package init(policy: OutlierMachine.Policy, logger: Logger? = nil) {
        machine = Mutex(OutlierMachine(policy: policy))
        self.logger = logger
    }

    /// Ejections since start.
    package var ejectionCount: Int { ejections.load(ordering: .relaxed) }

    /// For each of `urls`, the failure to report instead of sending (nil: send); nil when every
    /// node is sent to.
    package func screen(_ targets: some Collection<ServerInfo>, now: MonotonicInstant) -> [ClientError?]? {
        guard anyRecord.load(ordering: .relaxed) else { return nil }
        return machine.withLock { m in
            guard m.ejectedCount > 0 else { return nil }
            var skipped: [ClientError?] = Array(repeating: nil, count: targets.count)
            var any = false
            for (k, url) in targets.lazy.map(\.url).enumerated() where m.isEjected(url, now: now) {
                let left = m.ejectedUntil(url).map { now.duration(to: $0) } ?? .zero
                skipped[k] = ClientError(
                    .ejected, "ejected for failing; sent to again within \(Self.seconds(left)) s, or once it answers a check")
                any = true
            }
            anyRecord.store(!m.isEmpty, ordering: .relaxed)
            return any ? skipped : nil
        }
    }

    /// Learns the outcomes of requests to `targets`, nodes of a cluster of `clusterSize`;
    /// records of nodes no longer in it are forgotten once they outnumber it.
    package func learn(
        _ targets: some Collection<ServerInfo>, _ results: [Result<ClientResponse, ClientError>], clusterSize: Int, now: MonotonicInstant
    ) {
        if !anyRecord.load(ordering: .relaxed) && !results.contains(where: { if case .failure = $0 { true } else { false } }) { return }
        var ejected: [(ServerInfo, ClientError, MonotonicInstant)] = []
        machine.withLock { m in
            for (node, result) in zip(targets, results) {
                let code: ClientError.Code?
                switch result {
                case .success: code = nil
                case .failure(let e): code = e.code
                }
                if code == nil && m.isEmpty { continue }
                if case .ejected(let until) = m.record(
                    node.url, failure: code, clusterSize: clusterSize, check: node.clusterUrl, now: now),
                    case .failure(let e) = result
                {
                    ejected.append((node, e, until))
                }
            }
            if m.records.count > 2 * clusterSize + 16 {
                let keep = Set(targets.map(\.url))
                m.retain { keep.contains($0) }
            }
            anyRecord.store(!m.isEmpty, ordering: .relaxed)
        }
        guard !ejected.isEmpty else { return }
        ejections.add(ejected.count, ordering: .relaxed)
        for (node, error, until) in ejected {
            logger?.warning(
                "fan-out node ejected",
                metadata: [
                    "server": "\(node.id)", "url": "\(node.url)", "code": "\(error.label)",
                    "seconds": "\(Self.seconds(now.duration(to: until)))",
                ])
        }
    }

    /// Ends `url`'s ejection (an active check answered).
    package func readmit(_ url: String, now: MonotonicInstant) {
        let change = machine.withLock { m in
            defer { anyRecord.store(!m.isEmpty, ordering: .relaxed) }
            return m.readmit(url, now: now)
        }
        if change != nil { logger?.notice("fan-out node readmitted: it answered its check", metadata: ["url": "\(url)"]) }
    }

    /// The nodes ejected now (ending those whose time is up), with where each may be checked.
    package func ejected(now: MonotonicInstant) -> [(url: String, until: MonotonicInstant, check: String?)] {
        guard anyRecord.load(ordering: .relaxed) else { return [] }
        return machine.withLock { m in
            let still = m.ejected.filter { m.isEjected($0.url, now: now) }
            anyRecord.store(!m.isEmpty, ordering: .relaxed)
            return still
        }
    }

    static func seconds(_ d: Duration) -> String {
        let tenths = max(0, (d.nanoseconds + 99_999_999) / 100_000_000)
        return "\(tenths / 10).\(tenths % 10)"
    }
}
