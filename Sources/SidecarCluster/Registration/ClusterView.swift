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
        /// Counts every change of the view and of this sidecar's registration (0: none yet):
        /// what blocking queries and event streams resume from.
        package var index: UInt64 = 0
        /// This sidecar's registration status, as `/status` says it.
        package var registration = "disabled"
    }

    /// One change, as event streams carry it.
    package struct Event: Sendable, Equatable {
        package enum Kind: String, Sendable {
            case added = "server-added"
            case updated = "server-updated"
            case removed = "server-removed"
            case registration
        }

        package var kind: Kind
        package var index: UInt64
        /// The server as it is now (added, updated), or as it was (removed).
        package var server: ServerInfo?
        /// The new registration status.
        package var registration: String?
    }

    /// How a subscriber starts: the changes since the index it gave, or (new, or too far
    /// behind) the whole view.
    package enum Start: Sendable {
        case events([Event])
        case snapshot(Snapshot)
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

    /// Changes kept for subscribers that resume (`Last-Event-ID`).
    static let recentKept = 512

    private struct State {
        var view = Snapshot(servers: [], updatedAt: 0)
        var recent: [Event] = []
        /// Each is told of every change, under the view's lock (so in order); returning false
        /// ends it, and its `ended` runs.
        var subscribers: [Int: (deliver: @Sendable ([Event]) -> Bool, ended: @Sendable () -> Void)] = [:]
        /// Blocking queries waiting for the index to move past theirs.
        var waiters: [Int: (after: UInt64, resume: CheckedContinuation<Void, Never>)] = [:]
        var next = 0

        /// Numbers `events`, keeps them, and tells the subscribers and the waiters.
        mutating func publish(_ kinds: [(Event.Kind, ServerInfo?, String?)]) {
            guard !kinds.isEmpty else { return }
            var events: [Event] = []
            for (kind, server, registration) in kinds {
                view.index += 1
                events.append(Event(kind: kind, index: view.index, server: server, registration: registration))
            }
            recent += events
            if recent.count > ClusterView.recentKept { recent.removeFirst(recent.count - ClusterView.recentKept) }
            for (id, s) in subscribers where !s.deliver(events) {
                subscribers[id] = nil
                s.ended()
            }
            for (id, w) in waiters where w.after != view.index {
                waiters[id] = nil
                w.resume.resume()
            }
        }

        /// An empty batch for every subscriber (a keep-alive).
        mutating func publishNothing() {
            for (id, s) in subscribers where !s.deliver([]) {
                subscribers[id] = nil
                s.ended()
            }
        }
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Double
    package let limits: Limits

    /// - Parameters:
    ///   - limits: the most it holds.
    ///   - now: wall-clock seconds since the epoch.
    package init(limits: Limits = Limits(), now: @escaping @Sendable () -> Double = WallClock.now) {
        self.limits = limits
        self.now = now
    }

    package func snapshot() -> Snapshot { state.withLock { $0.view } }

    package var count: Int { state.withLock { $0.view.servers.count } }

    /// The index now (see `Snapshot.index`).
    package var index: UInt64 { state.withLock { $0.view.index } }

    /// Replaces the whole view (a registration answer): servers over a limit are left out, and
    /// those past `maxServers`; the count left out is returned.
    ///
    /// With `since`, the view's index when the registration was sent, the changes made after it
    /// (pushes of joins and leaves that arrived while the call ran) are newer than the answer
    /// and stay: a server added then is kept even when the answer lacks it, and one removed
    /// then stays out. Without the changes at hand (more than `recentKept` of them), the answer
    /// replaces the view as it is.
    @discardableResult
    package func replace(with servers: [ServerInfo], keepingChangesAfter since: UInt64? = nil) -> Int {
        let t = now()
        let fit = servers.filter { limits.problem($0) == nil }
        return state.withLock { s in
            var seen = Set<String>()
            let before = s.view.servers
            var fit = fit
            if let since, since < s.view.index, let first = s.recent.first, first.index <= since + 1 {
                var latest: [String: ServerInfo?] = [:]  // nil: removed
                for e in s.recent where e.index > since {
                    guard let server = e.server else { continue }
                    latest[server.id] = e.kind == .removed ? .some(nil) : .some(server)
                }
                fit = fit.compactMap { answer in
                    guard let pushed = latest[answer.id] else { return answer }
                    return pushed  // nil: removed since
                }
                let answered = Set(fit.map(\.id))
                // Added since and missing from the answer: kept, in the view's order.
                for server in before where !answered.contains(server.id) {
                    if case let pushed?? = latest[server.id] { fit.append(pushed) }
                }
            }
            let beforeIDs = Set(before.map(\.id))
            s.view.servers = Array(fit.filter { seen.insert($0.id).inserted }.prefix(limits.maxServers))
            seen = Set(s.view.servers.map(\.id))
            s.view.changes.joins += seen.subtracting(beforeIDs).count
            s.view.changes.leaves += beforeIDs.subtracting(seen).count
            s.view.updatedAt = t
            var kinds: [(Event.Kind, ServerInfo?, String?)] = before.filter { !seen.contains($0.id) }.map { (.removed, $0, nil) }
            for server in s.view.servers {
                if let old = before.first(where: { $0.id == server.id }) {
                    if old != server { kinds.append((.updated, server, nil)) }
                } else {
                    kinds.append((.added, server, nil))
                }
            }
            s.publish(kinds)
            return Set(servers.map(\.id)).count - s.view.servers.count
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
            if let k = s.view.servers.firstIndex(where: { $0.id == server.id }) {
                s.view.updatedAt = t
                if s.view.servers[k] != server {
                    s.view.servers[k] = server
                    s.publish([(.updated, server, nil)])
                }
                return .updated
            }
            guard s.view.servers.count < limits.maxServers else {
                return .refused(full: true, reason: "the cluster view holds CLUSTER_MAX_SERVERS (\(limits.maxServers)) servers")
            }
            s.view.updatedAt = t
            s.view.servers.append(server)
            s.view.changes.joins += 1
            s.publish([(.added, server, nil)])
            return .added
        }
    }

    /// Removes the server `id`; true when it was there.
    @discardableResult
    package func remove(_ id: String) -> Bool {
        let t = now()
        return state.withLock { s in
            guard let k = s.view.servers.firstIndex(where: { $0.id == id }) else { return false }
            let gone = s.view.servers.remove(at: k)
            s.view.changes.leaves += 1
            s.view.updatedAt = t
            s.publish([(.removed, gone, nil)])
            return true
        }
    }

    /// This sidecar's registration status now: a change is an event.
    package func noteRegistration(_ status: String) {
        state.withLock { s in
            guard s.view.registration != status else { return }
            s.view.registration = status
            s.publish([(.registration, nil, status)])
        }
    }

    // MARK: Watching

    /// Subscribes to every change after `index` (nil: from now, starting with the whole view).
    /// `start` runs first, then `deliver` with each batch of changes, all under the view's lock
    /// and in order: they must only hand the text on (no call back into the view). `deliver`
    /// returning false ends the subscription; `ended` runs once it ends either way.
    package func subscribe(
        after index: UInt64?, start: (Start) -> Void, deliver: @escaping @Sendable ([Event]) -> Bool,
        ended: @escaping @Sendable () -> Void
    ) -> Int {
        state.withLock { s in
            // Resumed from a change still kept (or from the latest): what came after it.
            // Else (new, a restarted sidecar's index, or too far behind) the whole view.
            if let index, index == s.view.index {
                start(.events([]))
            } else if let index, index < s.view.index, let first = s.recent.first, first.index <= index + 1 {
                start(.events(s.recent.filter { $0.index > index }))
            } else {
                start(.snapshot(s.view))
            }
            s.next += 1
            s.subscribers[s.next] = (deliver, ended)
            return s.next
        }
    }

    /// Ends subscription `id` (its `ended` runs) when it still runs.
    package func unsubscribe(_ id: Int) {
        let ended = state.withLock { s in s.subscribers.removeValue(forKey: id)?.ended }
        ended?()
    }

    /// Hands every subscriber an empty batch (a keep-alive for the streams); the ones that
    /// answer false end.
    package func ping() { state.withLock { $0.publishNothing() } }

    /// Ends every subscription and answers every waiting blocking query (the sidecar stops:
    /// its streams must not hold the drain).
    package func endAll() {
        state.withLock { s in
            for (_, subscriber) in s.subscribers { subscriber.ended() }
            s.subscribers.removeAll()
            for (_, waiter) in s.waiters { waiter.resume.resume() }
            s.waiters.removeAll()
        }
    }

    /// Subscribers now (for tests and `/status`).
    package var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Returns once the index is not `index` any more, or after `timeout`.
    package func waitForChange(from index: UInt64, timeout: Duration) async {
        let id = state.withLock { s in
            s.next += 1
            return s.next
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.wake(id)
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                guard s.view.index == index else { return true }
                s.waiters[id] = (index, c)
                return false
            }
            if now { c.resume() }
        }
        timer.cancel()
    }

    private func wake(_ id: Int) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume.resume()
    }
}
