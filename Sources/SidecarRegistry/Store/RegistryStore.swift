import SidecarClient
import SidecarCluster
import SidecarHTTP
import SidecarPosix

/// The registry's memory (pure; time is a parameter): servers by id, in registration order,
/// each with when its lease runs out.
package struct RegistryStore: Sendable {
    struct Entry: Sendable {
        var server: ServerInfo
        var cluster: Bool
        var lastSeen: MonotonicInstant
        /// `server` as JSON, encoded once per registration: answers list thousands of servers.
        var json: [UInt8]
    }

    /// The lease time the registry hands out, in seconds.
    package let leaseTime: Duration
    /// Missed lease intervals before a server is dropped.
    package let missedLeases: Int
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    package init(leaseTime: Duration, missedLeases: Int = 3) {
        self.leaseTime = leaseTime
        self.missedLeases = missedLeases
    }

    /// What a registration did.
    package struct Registration: Sendable {
        /// True when the id was not known (201), false when it was (200).
        package var created: Bool
        package var server: ServerInfo
        /// Every server of the same type, the new one included, in registration order.
        package var members: [ServerInfo]
        /// `members` as a JSON array.
        package var membersJSON: [UInt8]
        /// The others of the type that take part in cluster management (to be told of a join).
        package var peersToTell: [ServerInfo]
    }

    /// Registers (or re-registers) `new`. Its id nil or empty: a new id from `makeID`.
    package mutating func register(_ new: NewServer, now: MonotonicInstant, wall: String, makeID: () -> String) -> Registration {
        let serverID = (new.id?.isEmpty == false) ? new.id! : makeID()
        let created = entries[serverID] == nil
        let server = ServerInfo(
            id: serverID, type: new.type, url: new.url, clusterUrl: new.clusterUrl, updatedAt: wall, metadata: new.metadata)
        if created { order.append(serverID) }
        entries[serverID] = Entry(server: server, cluster: new.cluster, lastSeen: now, json: JSONCoding.encode(server))
        let members = entries(of: new.type)
        let peers = created ? members.filter { $0.cluster && $0.server.id != serverID }.map(\.server) : []
        return Registration(
            created: created, server: server, members: members.map(\.server), membersJSON: ServerJSON.array(members.map(\.json)),
            peersToTell: peers)
    }

    /// Renews a lease; false when the id is unknown (404).
    package mutating func lease(id: String, now: MonotonicInstant) -> Bool {
        guard entries[id] != nil else { return false }
        entries[id]!.lastSeen = now
        return true
    }

    /// Removes a server; returns it and the peers to tell, or nil when unknown.
    package mutating func remove(id: String) -> (server: ServerInfo, peers: [ServerInfo])? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        order.removeAll { $0 == id }
        return (entry.server, peers(of: entry.server.type))
    }

    /// Drops every server that missed `missedLeases` lease intervals; returns each with its peers.
    package mutating func expire(now: MonotonicInstant) -> [(server: ServerInfo, peers: [ServerInfo])] {
        let limit = leaseTime * missedLeases
        let gone = order.filter { id in entries[id].map { now - $0.lastSeen > limit } ?? false }
        return gone.compactMap { remove(id: $0) }
    }

    /// Forgets everything (a registry restart; also a fault switch for tests).
    package mutating func forgetAll() {
        entries.removeAll()
        order.removeAll()
    }

    /// Servers of `type` (all when nil), in registration order.
    package func list(type: String?) -> [ServerInfo] { entries(of: type).map(\.server) }

    /// `list(type:)` as a JSON array, from each server's encoding.
    package func listJSON(type: String?) -> [UInt8] { ServerJSON.array(entries(of: type).map(\.json)) }

    /// The entries of `type` (all when nil), in registration order.
    private func entries(of type: String?) -> [Entry] {
        order.compactMap { entries[$0] }.filter { type == nil || $0.server.type == type }
    }

    private func peers(of type: String) -> [ServerInfo] { entries(of: type).filter(\.cluster).map(\.server) }
}
