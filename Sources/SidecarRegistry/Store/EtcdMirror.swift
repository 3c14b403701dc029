import Logging
import SidecarCluster
import Synchronization

/// Every replica's copy of the servers in etcd, kept by a watch (as Kubernetes' API servers
/// keep their watch cache): lists and registration answers come from it instead of reading
/// and decoding every server from etcd per call, and a renewal finds its lease here. It is
/// used only while its watch runs; a registration waits until the copy holds its own write.
final class EtcdMirror: Sendable {
    private struct State: Sendable {
        var table = ServerTable()
        var revision: Int64 = 0
        var live = false
        var waiters: [(revision: Int64, id: Int, resume: CheckedContinuation<Bool, Never>)] = []
        var nextWaiter = 0
    }

    private let etcd: EtcdClient
    private let keys: EtcdKeys
    private let logger: Logger
    private let state = Mutex(State())

    init(etcd: EtcdClient, keys: EtcdKeys, logger: Logger) {
        self.etcd = etcd
        self.keys = keys
        self.logger = logger
    }

    /// The servers of `type` (all when nil) in registration order; nil while the watch is down.
    func rows(type: String?) -> [ServerTable.Row]? {
        state.withLock { s in
            guard s.live else { return nil }
            return s.table.servers(of: type)
        }
    }

    /// The lease `id`'s key holds, as far as the copy knows; nil when unknown or not live.
    func lease(of id: String) -> Int64? {
        state.withLock { s in s.live ? s.table.rows[id]?.lease : nil }
    }

    /// Waits until the copy holds every change up to `revision` (true), or `patience` passes or
    /// the watch is down (false).
    func reach(_ revision: Int64, patience: Duration = .milliseconds(500)) async -> Bool {
        let id = state.withLock { s -> Int? in
            guard s.live, s.revision < revision else { return nil }
            s.nextWaiter += 1
            return s.nextWaiter
        }
        guard let id else { return state.withLock { $0.live && $0.revision >= revision } }
        let timer = Task { [self] in
            try? await Task.sleep(for: patience)
            let late = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                guard let k = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: k).resume
            }
            late?.resume(returning: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if !s.live || s.revision >= revision { return true }
                s.waiters.append((revision, id, continuation))
                return false
            }
            if now { continuation.resume(returning: state.withLock { $0.live && $0.revision >= revision }) }
        }
    }

    /// Reads the servers, then follows the watch, until the task is cancelled; starts over
    /// from a fresh read whenever the watch ends.
    func run() async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            if let answer = try? await etcd.range(keys.servers, end: keys.servers.prefixEnd) {
                let from = answer.header?.revision?.value ?? 0
                settle { s in
                    s.table = ServerTable(answer.kvs ?? [])
                    s.revision = from
                    s.live = true
                }
                logger.debug("following the servers in etcd", metadata: ["revision": "\(from)"])
                for await item in etcd.watch(keys.servers, end: keys.servers.prefixEnd, from: from + 1) {
                    guard case .message(let message) = item, let result = message.result, message.error == nil, result.canceled != true
                    else {
                        break
                    }
                    settle { s in
                        for event in result.events ?? [] {
                            _ = s.table.apply(event)
                            s.revision = max(s.revision, event.kv.mod_revision?.value ?? 0)
                        }
                        s.revision = max(s.revision, result.header?.revision?.value ?? 0)
                    }
                }
                settle { $0.live = false }
                logger.debug("servers watch ended; reading again")
            }
            try? await clock.sleep(for: .milliseconds(300))
        }
        settle { $0.live = false }
    }

    /// Changes the state, then resumes the waiters it satisfied (or all, when no longer live).
    private func settle(_ change: (inout State) -> Void) {
        let ready = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            change(&s)
            let done = s.waiters.filter { !s.live || $0.revision <= s.revision }
            s.waiters.removeAll { !s.live || $0.revision <= s.revision }
            return done.map(\.resume)
        }
        let live = state.withLock { $0.live }
        for r in ready { r.resume(returning: live) }
    }
}
