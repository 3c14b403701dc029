import Synchronization

/// The last trouble of one kind that was logged (any thread): what lets a failure be logged
/// once when it starts or changes, not at every retry.
final class Trouble: Sendable {
    private let last = Mutex<String?>(nil)

    /// Whether `what` differs from the trouble logged last (and is now the last).
    func changed(to what: String) -> Bool {
        last.withLock { l in
            defer { l = what }
            return l != what
        }
    }

    /// Forgets the trouble; returns it when there was one.
    func clear() -> String? {
        last.withLock { l in
            defer { l = nil }
            return l
        }
    }
}
