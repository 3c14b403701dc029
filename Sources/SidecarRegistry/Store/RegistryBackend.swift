import SidecarCluster
import SidecarHTTP
import SidecarPosix
import Synchronization

/// A registration as a sidecar sends it (`POST /servers`).
package struct NewServer: Sendable {
    package var id: String?
    package var type: String
    package var url: String
    package var clusterUrl: String
    package var cluster: Bool
    package var metadata: JSONValue?

    package init(id: String?, type: String, url: String, clusterUrl: String, cluster: Bool, metadata: JSONValue?) {
        self.id = id
        self.type = type
        self.url = url
        self.clusterUrl = clusterUrl
        self.cluster = cluster
        self.metadata = metadata
    }
}

/// Where the registry keeps its servers: this process's memory, or etcd. The handlers are the
/// same on both; only etcd can fail (`EtcdFailure`, answered 503 while no member answers).
package protocol RegistryBackend: Sendable {
    /// `memory` or `etcd`, as `/status` shows it.
    var name: String { get }
    /// Registers (or re-registers) a server; `makeID` names a new one.
    func register(_ server: NewServer, wall: String, makeID: @Sendable () -> String) async throws(EtcdFailure) -> RegistryStore.Registration
    /// Renews a lease; false when the id is unknown or its lease ran out (404).
    func renew(id: String) async throws(EtcdFailure) -> Bool
    /// Removes a server; it and the peers to tell now, or nil when unknown.
    func remove(id: String) async throws(EtcdFailure) -> (server: ServerInfo, peers: [ServerInfo])?
    /// Servers of `type` (all when nil), in registration order, as a JSON array.
    func listJSON(type: String?) async throws(EtcdFailure) -> [UInt8]
}

/// JSON arrays made of servers encoded once each.
enum ServerJSON {
    /// `[a,b,...]` from the pieces.
    static func array(_ pieces: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(pieces.reduce(2) { $0 + $1.count + 1 })
        for (k, piece) in pieces.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            out += piece
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}

/// The memory store behind a lock: one process, gone with it. Joins and leaves are told by the
/// handler that made them; expiry by `expire`.
package final class MemoryBackend: RegistryBackend {
    private let store: Mutex<RegistryStore>
    private let clock: any SidecarClock

    package init(leaseTime: Duration, clock: any SidecarClock) {
        store = Mutex(RegistryStore(leaseTime: leaseTime))
        self.clock = clock
    }

    package var name: String { "memory" }

    package func register(_ s: NewServer, wall: String, makeID: @Sendable () -> String) async throws(EtcdFailure)
        -> RegistryStore.Registration
    {
        let now = clock.now
        return store.withLock { $0.register(s, now: now, wall: wall, makeID: makeID) }
    }

    package func renew(id: String) async throws(EtcdFailure) -> Bool {
        let now = clock.now
        return store.withLock { $0.lease(id: id, now: now) }
    }

    package func remove(id: String) async throws(EtcdFailure) -> (server: ServerInfo, peers: [ServerInfo])? {
        store.withLock { $0.remove(id: id) }
    }

    package func listJSON(type: String?) async throws(EtcdFailure) -> [UInt8] {
        store.withLock { $0.listJSON(type: type) }
    }

    /// Drops the servers whose leases ran out now; each with the peers to tell.
    func expire() -> [(server: ServerInfo, peers: [ServerInfo])] {
        let now = clock.now
        return store.withLock { $0.expire(now: now) }
    }

    /// Forgets every server (a registry restart; a fault switch for tests).
    func forgetAll() { store.withLock { $0.forgetAll() } }

    /// The servers known now.
    func servers() -> [ServerInfo] { store.withLock { $0.list(type: nil) } }
}
