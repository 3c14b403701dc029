import SidecarClient
import Synchronization

/// A listener's view of a fan-out with retries: a result goes to it once it will not be retried,
/// and each node once. Each round's results come on its loop; the round's end on the task.
final class RoundListener: Sendable {
    private let listener: any FanOutListener
    private let reported: Mutex<[Bool]>

    init(_ listener: any FanOutListener, targets: [ServerInfo]) {
        self.listener = listener
        reported = Mutex(Array(repeating: false, count: targets.count))
        listener.begin(targets)
    }

    /// Hands node `k`'s result on, unless it was already.
    @discardableResult
    func report(_ k: Int, _ result: Result<ClientResponse, ClientError>) -> Bool {
        let first = reported.withLock { r in
            defer { r[k] = true }
            return !r[k]
        }
        return first && listener.finished(k, result)
    }

    /// Hands on every node's outcome not yet reported, but those of `retried`.
    func reportAll(except retried: Set<Int>, _ outcomes: [FanOutResult.Outcome]) {
        for (k, o) in outcomes.enumerated() where !retried.contains(k) {
            switch o {
            case .answered(let r): report(k, .success(r))
            case .failed(let e): report(k, .failure(e))
            }
        }
    }

    /// The listener one round reports to: in the `last` round every result is final, else
    /// only those not worth retrying.
    func round(last: Bool) -> any FanOutListener { Round(self, last: last) }

    private final class Round: FanOutListener {
        let rounds: RoundListener
        let last: Bool
        init(_ rounds: RoundListener, last: Bool) {
            self.rounds = rounds
            self.last = last
        }
        func begin(_ targets: [ServerInfo]) {}
        func finished(_ index: Int, _ result: Result<ClientResponse, ClientError>) -> Bool {
            guard last || !FanOut.worthRetrying(result) else { return false }
            return rounds.report(index, result)
        }
        var isBehind: Bool { rounds.listener.isBehind }
        var isCancelled: Bool { rounds.listener.isCancelled }
        func whenWritable(_ resume: @escaping @Sendable () -> Void) { rounds.listener.whenWritable(resume) }
        func onCancel(_ gone: @escaping @Sendable () -> Void) { rounds.listener.onCancel(gone) }
    }
}
