import SidecarClient
import Synchronization

/// Several URLs for one service (`MIT_URL`, `OAUTH_TOKEN_URL`): calls go to the current one
/// and move on to the next when it cannot be reached, times out or answers 5xx. The id and
/// the lease belong to the registry, not to a replica, so a move loses neither.
package final class RegistryEndpoints: Sendable {
    package let urls: [String]
    private let state = Mutex<(current: Int, moves: Int)>((0, 0))

    package init(_ urls: [String]) {
        precondition(!urls.isEmpty, "a service has at least one URL")
        self.urls = urls
    }

    /// The URL in use.
    package var current: String { urls[state.withLock { $0.current }] }

    /// Moves since start.
    package var moves: Int { state.withLock { $0.moves } }

    /// Every URL once, the current one first.
    package func inTurn() -> [(index: Int, url: String)] {
        let first = state.withLock { $0.current }
        return (0..<urls.count).map { k in
            let i = (first + k) % urls.count
            return (i, urls[i])
        }
    }

    /// `index` answered: it is the current one from now (true when that is a move).
    @discardableResult
    package func settle(on index: Int) -> Bool {
        state.withLock { s in
            guard s.current != index else { return false }
            s.current = index
            s.moves += 1
            return true
        }
    }

    /// Whether a call that failed so should go on to the next URL: it could not reach the
    /// service (no connection, no name, no TLS) or timed out. (A 5xx answer moves on too.)
    package static func movesOn(_ failure: ClientError.Code) -> Bool {
        failure == .connect || failure == .timeout || failure == .dns || failure == .tls
    }
}
