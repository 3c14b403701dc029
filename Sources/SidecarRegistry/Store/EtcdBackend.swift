import Logging
import SidecarCluster
import SidecarHTTP

/// What the registry keeps under a server's key: the server as peers see it, and whether it
/// takes part in cluster management (is told of joins and leaves).
struct StoredServer: Codable, Sendable {
    var server: ServerInfo
    var cluster: Bool
}

/// The registry's keys under `ETCD_PREFIX`.
package struct EtcdKeys: Sendable {
    package let prefix: String

    package init(prefix: String) { self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/" }

    /// Every server: `{prefix}servers/{id}`.
    var servers: EtcdBytes { EtcdBytes(prefix + "servers/") }
    func server(_ id: String) -> EtcdBytes { EtcdBytes(prefix + "servers/" + id) }
    /// Which replica pushes, bound to that replica's lease.
    var leader: EtcdBytes { EtcdBytes(prefix + "push/leader") }
    /// The revision up to which every change has been pushed.
    var pushed: EtcdBytes { EtcdBytes(prefix + "push/revision") }
}

/// The registry on etcd: a server is a key holding its JSON, bound to a lease of three lease
/// intervals; a renewal is that lease's keep-alive; an expired lease is gone with its key.
/// Any number of replicas share it. Joins and leaves are pushed from a watch (`EtcdPusher`),
/// not by the handler that made them, so the registration's peers to tell are none here.
package final class EtcdBackend: RegistryBackend {
    private let etcd: EtcdClient
    private let keys: EtcdKeys
    /// This replica's copy of the servers, kept by a watch (`run` keeps it).
    let mirror: EtcdMirror
    /// Seconds of a server's lease: three of the lease intervals handed out.
    private let leaseSeconds: Int64

    package init(etcd: EtcdClient, keys: EtcdKeys, leaseTime: Duration, logger: Logger, missedLeases: Int = 3) {
        self.etcd = etcd
        self.keys = keys
        mirror = EtcdMirror(etcd: etcd, keys: keys, logger: logger)
        leaseSeconds = max(2, Int64((leaseTime * missedLeases).seconds.rounded(.up)))
    }

    package var name: String { "etcd" }

    package func register(_ s: NewServer, wall: String, makeID: @Sendable () -> String) async throws(EtcdFailure)
        -> RegistryStore.Registration
    {
        let lease = try await etcd.grant(ttl: leaseSeconds)
        let given = s.id?.isEmpty == false
        var id = given ? s.id! : makeID()
        var created = false
        var written: Int64 = 0
        // A new id is taken only if no key holds it (never twice); a given id is put either way.
        for attempt in 0..<8 {
            let stored = StoredServer(
                server: ServerInfo(id: id, type: s.type, url: s.url, clusterUrl: s.clusterUrl, updatedAt: wall, metadata: s.metadata),
                cluster: s.cluster)
            let put = EtcdPutRequest(
                key: keys.server(id), value: EtcdBytes(bytes: JSONCoding.encode(stored)), lease: EtcdInt(lease), prev_kv: true)
            let answer = try await etcd.txn(
                EtcdTxnRequest(compare: [.absent(keys.server(id))], success: [.put(put)], failure: given ? [.put(put)] : []))
            written = answer.header?.revision?.value ?? 0
            if answer.didSucceed {
                created = true
                break
            }
            if given {
                // Re-registered: the lease the key held before is let go (it holds nothing now).
                if let old = answer.responses?.first?.response_put?.prev_kv?.leaseID, old != 0, old != lease {
                    try? await etcd.revoke(old)
                }
                break
            }
            guard attempt < 7 else { throw EtcdFailure(.refused, "no free server id after 8 tries") }
            id = makeID()
        }
        // The members as of this write: from the copy once it holds the write, else from etcd.
        var rows: [ServerTable.Row]
        if await mirror.reach(written), let copy = mirror.rows(type: s.type) {
            rows = copy
        } else {
            rows = try await read(type: s.type)
        }
        let server =
            rows.first { $0.server.id == id }?.server
            ?? ServerInfo(id: id, type: s.type, url: s.url, clusterUrl: s.clusterUrl, updatedAt: wall)
        return RegistryStore.Registration(
            created: created, server: server, members: rows.map(\.server), membersJSON: ServerJSON.array(rows.map(\.json)), peersToTell: [])
    }

    package func renew(id: String) async throws(EtcdFailure) -> Bool {
        // One call when the copy knows the lease; a lease it knows that has gone (the server
        // registered again elsewhere, with a new one) is checked against etcd itself.
        if let known = mirror.lease(of: id), known != 0, try await etcd.keepAlive(known) > 0 { return true }
        guard let kv = try await etcd.range(keys.server(id)).kvs?.first, kv.leaseID != 0 else { return false }
        return try await etcd.keepAlive(kv.leaseID) > 0
    }

    package func remove(id: String) async throws(EtcdFailure) -> (server: ServerInfo, peers: [ServerInfo])? {
        guard let old = try await etcd.delete(keys.server(id)) else { return nil }
        if old.leaseID != 0 { try? await etcd.revoke(old.leaseID) }
        let server = JSONCoding.decode(StoredServer.self, old.bytes)?.server ?? ServerInfo(id: id, type: "", url: "", clusterUrl: "")
        return (server, [])
    }

    package func listJSON(type: String?) async throws(EtcdFailure) -> [UInt8] {
        if let copy = mirror.rows(type: type) { return ServerJSON.array(copy.map(\.json)) }
        return ServerJSON.array(try await read(type: type).map(\.json))
    }

    /// The servers of `type` read from etcd itself, in registration order.
    private func read(type: String?) async throws(EtcdFailure) -> [ServerTable.Row] {
        let answer = try await etcd.range(keys.servers, end: keys.servers.prefixEnd)
        return ServerTable(answer.kvs ?? []).servers(of: type)
    }
}

/// Servers read from etcd, in registration order (their keys' creation revisions).
struct ServerTable: Sendable {
    struct Row: Sendable {
        var server: ServerInfo
        var cluster: Bool
        var created: Int64
        var lease: Int64
        /// `server` as JSON, encoded once per change: answers list thousands of servers.
        var json: [UInt8]
    }

    private(set) var rows: [String: Row] = [:]

    init(_ kvs: [EtcdKeyValue] = []) {
        for kv in kvs { _ = upsert(kv) }
    }

    /// In registration order.
    var servers: [Row] { servers(of: nil) }

    /// The servers of `type` (all when nil), in registration order: only those are sorted.
    func servers(of type: String?, where keep: (Row) -> Bool = { _ in true }) -> [Row] {
        rows.values.filter { (type == nil || $0.server.type == type) && keep($0) }
            .sorted { ($0.created, $0.server.id) < ($1.created, $1.server.id) }
    }

    /// Adds or replaces the server `kv` holds; nil when it holds none.
    mutating func upsert(_ kv: EtcdKeyValue) -> Row? {
        guard let stored = JSONCoding.decode(StoredServer.self, kv.bytes) else { return nil }
        let row = Row(
            server: stored.server, cluster: stored.cluster, created: kv.create_revision?.value ?? 0, lease: kv.leaseID,
            json: JSONCoding.encode(stored.server))
        rows[stored.server.id] = row
        return row
    }

    mutating func remove(id: String) -> Row? { rows.removeValue(forKey: id) }

    /// What a watch event did to the table.
    enum Change {
        /// A server added or replaced; `isNew` when its key was created by this put.
        case put(Row, isNew: Bool)
        /// A server deleted (unregistered, or its lease ran out).
        case removed(Row)
    }

    /// Applies a watch event; nil when it changed no server (a value that is not one, or a key
    /// already gone).
    mutating func apply(_ event: EtcdWatchMessage.Event) -> Change? {
        if event.isDelete {
            guard let id = event.prev_kv.flatMap({ Self.id(of: $0) }), let gone = remove(id: id) else { return nil }
            return .removed(gone)
        }
        return upsert(event.kv).map { .put($0, isNew: (event.kv.version?.value ?? 1) == 1) }
    }

    /// The id of the server `kv` holds.
    static func id(of kv: EtcdKeyValue) -> String? { JSONCoding.decode(StoredServer.self, kv.bytes)?.server.id }

    /// The members of `type` that are told of changes, but `id`.
    func peers(of type: String, but id: String) -> [ServerInfo] {
        servers(of: type) { $0.cluster && $0.server.id != id }.map(\.server)
    }
}
