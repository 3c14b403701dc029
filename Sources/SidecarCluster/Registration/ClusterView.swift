import SidecarPosix
import SidecarHTTP
import SidecarClient
import CSidecarSystem
import Synchronization

/// The servers of our cluster (self included), in cluster order, with when it last changed.
///
/// Thread-safe; every call holds the lock only to copy or edit a small array, so the event
/// loops may read it. An upsert keeps a known server's place.
public final class ClusterView: Sendable {
    /// A copy of the view at one moment.
    public struct Snapshot: Sendable {
        public var servers: [ServerInfo]
        /// Wall-clock seconds since the epoch of the last change (0: never).
        public var updatedAt: Double
        /// Servers that joined and left since start.
        public var changes = Changes()
    }

    /// Servers that joined (appeared in the view) and left it, since start.
    public struct Changes: Sendable, Equatable {
        public var joins = 0
        public var leaves = 0
        public init(joins: Int = 0, leaves: Int = 0) {
            self.joins = joins
            self.leaves = leaves
        }
    }

    private let state = Mutex<Snapshot>(Snapshot(servers: [], updatedAt: 0))
    private let now: @Sendable () -> Double

    /// - Parameter now: wall-clock seconds since the epoch.
    public init(now: @escaping @Sendable () -> Double = WallClock.now) {
        self.now = now
    }

    public func snapshot() -> Snapshot { state.withLock { $0 } }

    public var count: Int { state.withLock { $0.servers.count } }

    /// Replaces the whole view (a registration answer).
    public func replace(with servers: [ServerInfo]) {
        let t = now()
        state.withLock { s in
            var seen = Set<String>()
            let before = Set(s.servers.map(\.id))
            s.servers = servers.filter { seen.insert($0.id).inserted }
            s.changes.joins += seen.subtracting(before).count
            s.changes.leaves += before.subtracting(seen).count
            s.updatedAt = t
        }
    }

    /// Upserts each of `servers`, keeping known ones in place and appending new ones.
    public func merge(_ servers: [ServerInfo]) {
        for server in servers { upsert(server) }
    }

    /// Inserts or updates `server`; true when it was new.
    @discardableResult
    public func upsert(_ server: ServerInfo) -> Bool {
        let t = now()
        return state.withLock { s in
            s.updatedAt = t
            if let k = s.servers.firstIndex(where: { $0.id == server.id }) {
                s.servers[k] = server
                return false
            }
            s.servers.append(server)
            s.changes.joins += 1
            return true
        }
    }

    /// Removes the server `id`; true when it was there.
    @discardableResult
    public func remove(_ id: String) -> Bool {
        let t = now()
        return state.withLock { s in
            guard let k = s.servers.firstIndex(where: { $0.id == id }) else { return false }
            s.servers.remove(at: k)
            s.changes.leaves += 1
            s.updatedAt = t
            return true
        }
    }
}
