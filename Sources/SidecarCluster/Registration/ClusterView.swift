import CSidecarSystem
import SidecarClient
import SidecarHTTP
import SidecarPosix
import Synchronization

/// The servers of our cluster (self included), in cluster order, with when it last changed.
///
/// Thread-safe; every call holds the lock only to copy or edit a small array, so the event
/// loops may read it. An upsert keeps a known server's place.
package final class ClusterView: Sendable {
    /// A copy of the view at one moment.
    package struct Snapshot: Sendable {
        package var servers: [ServerInfo]
        /// Wall-clock seconds since the epoch of the last change (0: never).
        package var updatedAt: Double
        /// Servers that joined and left since start.
        package var changes = Changes()
    }

    /// Servers that joined (appeared in the view) and left it, since start.
    package struct Changes: Sendable, Equatable {
        package var joins = 0
        package var leaves = 0
        package init(joins: Int = 0, leaves: Int = 0) {
            self.joins = joins
            self.leaves = leaves
        }
    }

    /// How much the view holds at most: a peer or a registry cannot grow it, or `/status` and
    /// the status page that polls it, without bound.
    package struct Limits: Sendable, Equatable {
        /// Most servers (`CLUSTER_MAX_SERVERS`).
        package var maxServers: Int
        /// Largest `metadata` of one server, as JSON text (`CLUSTER_MAX_METADATA_BYTES`).
        package var maxMetadataBytes: Int

        package init(maxServers: Int = 10_000, maxMetadataBytes: Int = 16_384) {
            self.maxServers = maxServers
            self.maxMetadataBytes = maxMetadataBytes
        }

        /// Why `server` may not be held, or nil.
        package func problem(_ server: ServerInfo) -> String? { problem(metadata: server.metadata) }

        /// Why a server with this `metadata` may not be held, or nil.
        package func problem(metadata: JSONValue?) -> String? {
            guard let metadata else { return nil }
            let size = JSONCoding.encode(metadata).count
            return size > maxMetadataBytes ? "metadata of \(size) bytes is over CLUSTER_MAX_METADATA_BYTES (\(maxMetadataBytes))" : nil
        }
    }

    /// What an upsert did.
    package enum Upsert: Sendable, Equatable {
        case added
        case updated
        /// Not taken: the view is full, or the server is over a limit (the reason).
        case refused(full: Bool, reason: String)
    }

    private let state = Mutex<Snapshot>(Snapshot(servers: [], updatedAt: 0))
    private let now: @Sendable () -> Double
    package let limits: Limits

    /// - Parameters:
    ///   - limits: the most it holds.
    ///   - now: wall-clock seconds since the epoch.
    package init(limits: Limits = Limits(), now: @escaping @Sendable () -> Double = WallClock.now) {
        self.limits = limits
        self.now = now
    }

    package func snapshot() -> Snapshot { state.withLock { $0 } }

    package var count: Int { state.withLock { $0.servers.count } }

    /// Replaces the whole view (a registration answer): servers over a limit are left out, and
    /// those past `maxServers`; the count left out is returned.
    @discardableResult
    package func replace(with servers: [ServerInfo]) -> Int {
        let t = now()
        let fit = servers.filter { limits.problem($0) == nil }
        return state.withLock { s in
            var seen = Set<String>()
            let before = Set(s.servers.map(\.id))
            s.servers = Array(fit.filter { seen.insert($0.id).inserted }.prefix(limits.maxServers))
            seen = Set(s.servers.map(\.id))
            s.changes.joins += seen.subtracting(before).count
            s.changes.leaves += before.subtracting(seen).count
            s.updatedAt = t
            return Set(servers.map(\.id)).count - s.servers.count
        }
    }

    /// Upserts each of `servers`, keeping known ones in place and appending new ones; the count
    /// refused is returned.
    @discardableResult
    package func merge(_ servers: [ServerInfo]) -> Int {
        var refused = 0
        for server in servers {
            if case .refused = upsert(server) { refused += 1 }
        }
        return refused
    }

    /// Inserts or updates `server`, within the limits.
    @discardableResult
    package func upsert(_ server: ServerInfo) -> Upsert {
        if let problem = limits.problem(server) { return .refused(full: false, reason: problem) }
        let t = now()
        return state.withLock { s in
            if let k = s.servers.firstIndex(where: { $0.id == server.id }) {
                s.updatedAt = t
                s.servers[k] = server
                return .updated
            }
            guard s.servers.count < limits.maxServers else {
                return .refused(full: true, reason: "the cluster view holds CLUSTER_MAX_SERVERS (\(limits.maxServers)) servers")
            }
            s.updatedAt = t
            s.servers.append(server)
            s.changes.joins += 1
            return .added
        }
    }

    /// Removes the server `id`; true when it was there.
    @discardableResult
    package func remove(_ id: String) -> Bool {
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
