import Synchronization

/// A clock that moves only when told (`advance(by:)`): tests of timing run in microseconds of
/// real time and never sleep. Sleepers whose deadline is reached are resumed by `advance`.
package final class ManualClock: SidecarClock {
    private struct Sleeper {
        let id: UInt64
        let deadline: MonotonicInstant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: MonotonicInstant
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
        var waitingForSleepers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>
    /// The wall-clock second that `MonotonicInstant(nanoseconds: 0)` stands for.
    private let epoch: Double

    /// A clock at `start`, showing `epoch` seconds since the Unix epoch at instant zero.
    package init(start: MonotonicInstant = MonotonicInstant(nanoseconds: 1_000_000_000), epoch: Double = 1_800_000_000) {
        state = Mutex(State(now: start))
        self.epoch = epoch
    }

    package var now: MonotonicInstant { state.withLock { $0.now } }
    package var minimumResolution: Duration { .nanoseconds(1) }

    package func wallTime(of instant: MonotonicInstant) -> Double { epoch + Double(instant.nanoseconds) / 1e9 }

    /// Suspends until `advance` reaches `deadline` (at once when it has), or throws
    /// `CancellationError` when the task is cancelled first.
    package func sleep(until deadline: MonotonicInstant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { s -> Bool in
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: c))
                    Self.notifyWaiters(&s)
                    return false
                }
                if resumeNow { Task.isCancelled ? c.resume(throwing: CancellationError()) : c.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                guard let k = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: k)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward by `duration` and resumes every sleeper now due, earliest first.
    package func advance(by duration: Duration) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = s.now.advanced(by: duration)
            let now = s.now
            let ready = s.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            s.sleepers.removeAll { $0.deadline <= now }
            return ready
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Sleepers waiting now.
    package var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Waits until at least `count` tasks sleep on this clock: the point at which a test may
    /// move time, knowing the component under test has scheduled its next wake-up.
    package func waitForSleepers(_ count: Int = 1) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.sleepers.count >= count { return true }
                s.waitingForSleepers.append((count, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    private static func notifyWaiters(_ s: inout State) {
        let count = s.sleepers.count
        let ready = s.waitingForSleepers.filter { $0.count <= count }
        s.waitingForSleepers.removeAll { $0.count <= count }
        for waiter in ready { waiter.continuation.resume() }
    }
}
