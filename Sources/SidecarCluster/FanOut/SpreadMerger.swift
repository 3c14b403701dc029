import SidecarClient
import Synchronization

/// Gathers the parts of a fan-out split across loops, from their threads.
final class SpreadMerger: Sendable {
    private let state: Mutex<(results: [Result<ClientResponse, ClientError>], left: Int)>
    private let done: @Sendable ([Result<ClientResponse, ClientError>]) -> Void

    init(count: Int, parts: Int, done: @escaping @Sendable ([Result<ClientResponse, ClientError>]) -> Void) {
        state = Mutex((Array(repeating: .failure(ClientError(.cancelled, "not sent")), count: count), parts))
        self.done = done
    }

    func add(_ start: Int, _ part: [Result<ClientResponse, ClientError>]) {
        let finished: [Result<ClientResponse, ClientError>]? = state.withLock { s in
            for (k, r) in part.enumerated() { s.results[start + k] = r }
            s.left -= 1
            return s.left == 0 ? s.results : nil
        }
        if let finished { done(finished) }
    }
}

/// Fan-outs in flight, bounded: `enter` says whether one more may start; `leave` when it ended.
final class PendingCount: Sendable {
    private let count = Atomic<Int>(0)

    func enter(max: Int) -> Bool {
        if count.add(1, ordering: .relaxed).newValue <= max { return true }
        count.subtract(1, ordering: .relaxed)
        return false
    }

    func leave() { count.subtract(1, ordering: .relaxed) }

    var current: Int { count.load(ordering: .relaxed) }
}
