import Logging
import SidecarCluster
import SidecarHTTP
import Synchronization

/// A change the registry tells a server's peers of.
package struct PushNotice: Sendable {
    package enum Kind: String, Sendable { case joined, left }
    package var kind: Kind
    package var server: ServerInfo
    package var peers: [ServerInfo]
}

/// The servers as the pushing replica follows them (pure): a watch event in, the notice to
/// push out. A key put for the first time (version 1) is a join; a deletion, by unregistering
/// or by its lease running out, a leave; a key put again (a re-registration) tells nobody, as
/// on the memory store.
struct PushView: Sendable {
    private(set) var table: ServerTable
    /// The revision the view holds (every event up to it applied).
    private(set) var revision: Int64

    init(_ kvs: [EtcdKeyValue], revision: Int64) {
        table = ServerTable(kvs)
        self.revision = revision
    }

    mutating func apply(_ event: EtcdWatchMessage.Event) -> PushNotice? {
        revision = max(revision, event.kv.mod_revision?.value ?? revision)
        switch table.apply(event) {
        case .removed(let gone)?:
            return PushNotice(kind: .left, server: gone.server, peers: table.peers(of: gone.server.type, but: gone.server.id))
        case .put(let row, isNew: true)?:
            return PushNotice(kind: .joined, server: row.server, peers: table.peers(of: row.server.type, but: row.server.id))
        case .put(_, isNew: false)?, nil:
            return nil
        }
    }

    /// Moves to `revision` (a progress notice: nothing changed up to it).
    mutating func reach(_ revision: Int64) { self.revision = max(self.revision, revision) }
}

/// Pushes every change of the servers under the prefix to their peers, from one replica at a
/// time: the one that holds the leader key, bound to a short lease it keeps alive. The
/// revision pushed last is kept in etcd (written only while this replica still leads), so the
/// next leader resumes after it: every change reaches every peer at least once.
package final class EtcdPusher: Sendable {
    private let etcd: EtcdClient
    private let keys: EtcdKeys
    private let replica: String
    private let leaseSeconds: Int64
    private let logger: Logger
    private let leading = Atomic<Bool>(false)

    /// `replica`: this process's name in the leader key.
    package init(etcd: EtcdClient, keys: EtcdKeys, replica: String, leaseSeconds: Int64 = 2, logger: Logger) {
        self.etcd = etcd
        self.keys = keys
        self.replica = replica
        self.leaseSeconds = leaseSeconds
        self.logger = logger
    }

    /// Whether this replica pushes now.
    package var isLeader: Bool { leading.load(ordering: .relaxed) }

    /// Campaigns, and pushes each change through `tell` while leading, until the task is
    /// cancelled; then lets the leadership go at once, so another replica takes over without
    /// waiting for the lease to run out.
    package func run(telling tell: @escaping @Sendable (PushNotice) async -> Void) async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            guard let lease = await campaign() else {
                try? await clock.sleep(for: .milliseconds(250))
                continue
            }
            leading.store(true, ordering: .relaxed)
            logger.notice("leading the pushes", metadata: ["replica": "\(replica)"])
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.keepLeading(lease) }
                group.addTask { await self.push(tell) }
                await group.next()
                group.cancelAll()
            }
            leading.store(false, ordering: .relaxed)
            logger.notice("no longer leading the pushes", metadata: ["replica": "\(replica)"])
            // Not cancelled with the task: the revoke must still go out at shutdown.
            await Task { [etcd] in try? await etcd.revoke(lease) }.value
        }
    }

    /// Takes the leader key if no replica holds it; the lease that binds it, or nil.
    private func campaign() async -> Int64? {
        do {
            if try await etcd.range(keys.leader).kvs?.isEmpty == false { return nil }
            let lease = try await etcd.grant(ttl: leaseSeconds)
            let put = EtcdPutRequest(key: keys.leader, value: EtcdBytes(replica), lease: EtcdInt(lease))
            if try await etcd.txn(EtcdTxnRequest(compare: [.absent(keys.leader)], success: [.put(put)], failure: [])).didSucceed {
                return lease
            }
            try? await etcd.revoke(lease)
        } catch {
            logger.debug("campaign failed", metadata: ["error": "\(error)"])
        }
        return nil
    }

    /// Keeps the leader lease alive; returns when it is lost (expired, or not renewed in time).
    private func keepLeading(_ lease: Int64) async {
        let clock = ContinuousClock()
        var renewed = clock.now
        while !Task.isCancelled {
            try? await clock.sleep(for: .milliseconds(Int64(leaseSeconds) * 1000 / 4))
            do {
                if try await etcd.keepAlive(lease) == 0 { return }
                renewed = clock.now
            } catch {
                logger.warning("leader lease not renewed", metadata: ["error": "\(error)"])
            }
            if clock.now - renewed >= .seconds(leaseSeconds) { return }
        }
    }

    /// Pushes from the revision after the last one pushed, until leadership is lost. Up to
    /// `PushWindow.limit` changes are told at once, so a peer that does not answer (a dead pod
    /// whose lease has not run out yet) delays each change by its timeout but not the ones
    /// after it; changes of one server are told in order. The revision recorded is the one
    /// before the oldest change still being told.
    private func push(_ tell: @escaping @Sendable (PushNotice) async -> Void) async {
        guard var view = await resume() else { return }
        var window = PushWindow()
        var recorded = view.revision
        let clock = ContinuousClock()
        while !Task.isCancelled {
            stream: for await item in etcd.watch(keys.servers, end: keys.servers.prefixEnd, from: view.revision + 1) {
                guard case .message(let message) = item else {
                    if case .ended(let reason) = item { logger.warning("etcd watch ended", metadata: ["reason": "\(reason)"]) }
                    etcd.moveOn()
                    break stream
                }
                guard let result = message.result, message.error == nil, result.canceled != true else {
                    if message.error != nil { etcd.moveOn() }  // this member cannot serve (no leader)
                    logger.warning(
                        "etcd watch refused",
                        metadata: ["reason": "\(message.error?.message ?? message.result?.cancel_reason ?? "no reason")"])
                    if let compacted = message.result?.compact_revision?.value, compacted > 0 {
                        // History before it is gone: start again from what is stored now.
                        logger.warning("etcd history compacted past the last push", metadata: ["revision": "\(compacted)"])
                        await window.finishAll()
                        guard let fresh = await snapshot() else { return }
                        view = fresh
                    }
                    break stream
                }
                for event in result.events ?? [] {
                    guard let notice = view.apply(event) else { continue }
                    await window.start(notice.server.id, at: view.revision) { await tell(notice) }
                }
                view.reach(result.header?.revision?.value ?? view.revision)
                let safe = window.settled(upTo: view.revision)
                if safe > recorded {
                    guard await record(safe) else { return }
                    recorded = safe
                }
            }
            try? await clock.sleep(for: .milliseconds(300))
        }
    }

    /// The view at the revision pushed last (or the start of etcd's history, or what is stored
    /// now when that history is compacted); nil when etcd cannot be read.
    private func resume() async -> PushView? {
        do {
            let pushed = try await etcd.range(keys.pushed).kvs?.first.flatMap { Int64($0.value?.text ?? "") } ?? 0
            if pushed == 0 { return PushView([], revision: 0) }
            do {
                let answer = try await etcd.range(keys.servers, end: keys.servers.prefixEnd, revision: pushed)
                return PushView(answer.kvs ?? [], revision: pushed)
            } catch  where error.kind == .refused {
                logger.warning("etcd history compacted past the last push", metadata: ["revision": "\(pushed)"])
                return await snapshot()
            }
        } catch {
            logger.warning("could not resume the pushes", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The view of what is stored now.
    private func snapshot() async -> PushView? {
        guard let answer = try? await etcd.range(keys.servers, end: keys.servers.prefixEnd) else { return nil }
        return PushView(answer.kvs ?? [], revision: answer.header?.revision?.value ?? 0)
    }

    /// Records `revision` as pushed, while this replica still holds the leader key; false when
    /// it no longer does.
    private func record(_ revision: Int64) async -> Bool {
        let put = EtcdPutRequest(key: keys.pushed, value: EtcdBytes(String(revision)))
        do {
            return try await etcd.txn(EtcdTxnRequest(compare: [.holds(keys.leader, EtcdBytes(replica))], success: [.put(put)], failure: []))
                .didSucceed
        } catch {
            logger.warning("pushed revision not recorded", metadata: ["error": "\(error)"])
            return true  // not known to be lost: the keep-alive decides
        }
    }
}

/// The changes being told at once, by revision: a change of a server waits for the one before
/// it of the same server; at most `limit` are in flight.
struct PushWindow {
    static let limit = 64

    private final class Done: Sendable {
        let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
    }

    private var running: [(revision: Int64, server: String, task: Task<Void, Never>, done: Done)] = []

    /// Starts telling the change of `server` at `revision`, after that server's previous one;
    /// first waits for the oldest while `limit` are running.
    mutating func start(_ server: String, at revision: Int64, _ tell: @escaping @Sendable () async -> Void) async {
        prune()
        while running.count >= Self.limit {
            await running[0].task.value
            prune()
        }
        let before = running.last { $0.server == server }?.task
        let done = Done()
        let task = Task {
            await before?.value
            await tell()
            done.flag.store(true, ordering: .releasing)
        }
        running.append((revision, server, task, done))
    }

    /// The revision up to which every change has been told: the one before the oldest still
    /// running, or `current` when none is.
    mutating func settled(upTo current: Int64) -> Int64 {
        prune()
        return running.first.map { $0.revision - 1 } ?? current
    }

    /// Waits for every change running.
    mutating func finishAll() async {
        for r in running { await r.task.value }
        running.removeAll()
    }

    private mutating func prune() { running.removeAll { $0.done.isSet } }
}
