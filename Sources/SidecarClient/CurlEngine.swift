import CCurl
import CSidecarSystem
import Glibc
import SidecarHTTP
import SidecarPosix

/// libcurl's multi interface on the socket-action API, served by a `Reactor`: curl says which
/// sockets to watch and when to call it back, and the reactor's epoll does the waiting. Work
/// per event is O(1) in the number of transfers (no poll set rebuilt, no walk over every
/// transfer), and on an event loop the transfers run on the thread that received the request.
///
/// Confined to its reactor's thread (asserted in debug builds); completions run there too.
/// `attached(to:key:configuration:)` gives the one engine a reactor keeps under a key.
package final class CurlEngine: ReactorSource {
    /// Receives one request's result, on the engine's thread.
    package typealias Completion = (Result<ClientResponse, ClientError>) -> Void
    /// Receives a batch's results in request order, on the engine's thread.
    package typealias BatchCompletion = ([Result<ClientResponse, ClientError>]) -> Void

    private let multi: UnsafeMutableRawPointer
    private unowned let reactor: any Reactor
    private let configuration: ClientConfiguration
    private var transfers: [UInt64: CurlTransfer] = [:]
    private var batches: [UInt64: Batch] = [:]
    /// Easy handles kept for reuse: creating one costs several allocations per request.
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private static let maxIdleHandles = 256
    /// Ids the engine gives itself: batch transfers, and requests of callers without ids.
    private var nextOwnID: UInt64 = 1 << 63
    /// When curl next wants `fire` (its timer callback sets it).
    package private(set) var deadline: MonotonicInstant?
    private var closed = false
    /// Ids cancelled before their start reached the engine (a task cancelled while handing its
    /// request over): their start completes with `.cancelled` at once. Bounded.
    private var cancelledEarly: [UInt64] = []
    /// Sockets in the reactor and what for. A socket curl stops watching between transfers
    /// (a kept-alive connection) stays in the reactor, parked, so that its next transfer costs
    /// no epoll_ctl either way; it leaves when curl closes it or when it stirs while parked.
    private var watched: [Int32: (events: UInt32, parked: Bool)] = [:]

    /// A batch in progress.
    private final class Batch {
        let id: UInt64
        let requests: [ClientRequest]
        let done: BatchCompletion
        var next = 0
        var remaining: Int
        var results: [Result<ClientResponse, ClientError>?]
        var active: Set<UInt64> = []
        /// One header list for every request whose headers are the first request's (a
        /// fan-out's all are): built and checked once, not once per node.
        let sharedHeaders: UnsafeMutablePointer<curl_slist>?

        init(id: UInt64, requests: [ClientRequest], done: @escaping BatchCompletion) {
            self.id = id
            self.requests = requests
            self.done = done
            remaining = requests.count
            results = Array(repeating: nil, count: requests.count)
            sharedHeaders = CurlTransfer.headerList(requests[0].headers)
        }

        /// The shared list if `request` can use it.
        func headers(for request: ClientRequest) -> UnsafeMutablePointer<curl_slist>? {
            let first = requests[0].headers
            guard let sharedHeaders, request.headers.count == first.count else { return nil }
            for (a, b) in zip(request.headers, first) where a.0 != b.0 || a.1 != b.1 { return nil }
            return sharedHeaders
        }

        /// Ends the batch: every transfer has ended or been removed, so the list is unused.
        func end(_ results: [Result<ClientResponse, ClientError>]) {
            if let sharedHeaders { curl_slist_free_all(sharedHeaders) }
            done(results)
        }
    }

    /// The engine `reactor` keeps under `key`, made on first use (on the reactor's thread): the
    /// way to run transfers on an event loop that serves something else too (the fan-out on
    /// the server's loops).
    package static func attached(to reactor: any Reactor, key: ObjectIdentifier, configuration: ClientConfiguration) -> CurlEngine {
        reactor.local(key) { CurlEngine(configuration: configuration, reactor: reactor) }
    }

    /// An engine whose sockets `reactor` watches; host it there (`EventLoop.host`) or make it
    /// through `attached`.
    package init(configuration: ClientConfiguration, reactor: any Reactor) {
        CurlEngine.globalInit
        multi = curl_multi_init()!
        self.reactor = reactor
        self.configuration = configuration
        ccurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxConnections)
        ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maxConnections)
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me)
        ccurl_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me)
        ccurl_multi_setopt_socket_function(multi) { _, fd, what, user, _ in
            let engine = Unmanaged<CurlEngine>.fromOpaque(user!).takeUnretainedValue()
            engine.socketChanged(fd, what: what)
            return 0
        }
        ccurl_multi_setopt_timer_function(multi) { _, ms, user in
            let engine = Unmanaged<CurlEngine>.fromOpaque(user!).takeUnretainedValue()
            engine.deadline = ms < 0 ? nil : MonotonicInstant(nanoseconds: csidecar_monotonic_ns() &+ UInt64(ms) * 1_000_000)
            return 0
        }
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// An id for `start`/`startBatch` callers that have none of their own.
    package func makeID() -> UInt64 {
        nextOwnID &+= 1
        return nextOwnID
    }

    /// Starts `request`; `completion` runs once, on this thread (at once when curl refuses the
    /// request or the engine is closed).
    package func start(_ request: ClientRequest, id: UInt64, completion: @escaping Completion) {
        reactor.assertInLoop()
        guard !closed else { return completion(.failure(.shutdown)) }
        if wasCancelledEarly(id) { return completion(.failure(.cancelled)) }
        let t = CurlTransfer(
            id: id, request: request, maxBody: configuration.maxResponseBytes, started: csidecar_monotonic_ns(), completion: completion)
        guard add(t) else { return completion(.failure(.badRequest)) }
    }

    /// Starts every request of `requests`, at most `concurrency` at once; `completion` gets the
    /// results in the order of `requests` once all ended.
    package func startBatch(_ requests: [ClientRequest], concurrency: Int, id: UInt64, completion: @escaping BatchCompletion) {
        reactor.assertInLoop()
        guard !closed else { return completion(requests.map { _ in .failure(.shutdown) }) }
        if wasCancelledEarly(id) { return completion(requests.map { _ in .failure(.cancelled) }) }
        guard !requests.isEmpty else { return completion([]) }
        let b = Batch(id: id, requests: requests, done: completion)
        batches[id] = b
        for _ in 0..<min(max(1, concurrency), requests.count) { startNext(b) }
    }

    /// Stops the transfer or batch `id` if it still runs; its completion gets `.cancelled`.
    package func cancel(_ id: UInt64) {
        reactor.assertInLoop()
        if let b = batches.removeValue(forKey: id) {
            for tid in b.active { if let t = transfers.removeValue(forKey: tid) { remove(t) } }
            b.end(b.results.map { $0 ?? .failure(.cancelled) })
        } else if let t = transfers.removeValue(forKey: id) {
            remove(t)
            t.completion(.failure(.cancelled))
        } else {
            // Not started yet (or finished already): remember it for a start that may follow.
            if cancelledEarly.count >= 1024 { cancelledEarly.removeFirst(512) }
            cancelledEarly.append(id)
        }
    }

    private func wasCancelledEarly(_ id: UInt64) -> Bool {
        guard let k = cancelledEarly.firstIndex(of: id) else { return false }
        cancelledEarly.remove(at: k)
        return true
    }

    // MARK: ReactorSource

    package func ready(_ token: UInt64, events: UInt32) {
        reactor.assertInLoop()
        let fd = Int32(truncatingIfNeeded: token)
        if let w = watched[fd], w.parked {
            // An idle kept-alive connection spoke (the server closed it, most likely): stop
            // watching; curl finds it dead when it next looks at it.
            reactor.unwatch(fd)
            watched[fd] = nil
            return
        }
        var mask: Int32 = 0
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 { mask |= CURL_CSELECT_IN }
        if events & EPOLLOUT.rawValue != 0 { mask |= CURL_CSELECT_OUT }
        if events & EPOLLERR.rawValue != 0 { mask |= CURL_CSELECT_ERR }
        var running: Int32 = 0
        curl_multi_socket_action(multi, fd, mask, &running)
        drainFinished()
    }

    package func fire(now: MonotonicInstant) {
        reactor.assertInLoop()
        deadline = nil
        var running: Int32 = 0
        curl_multi_socket_action(multi, ccurl_socket_timeout, 0, &running)
        drainFinished()
    }

    /// Fails everything still running with `.shutdown` and frees the multi handle.
    package func close() {
        reactor.assertInLoop()
        guard !closed else { return }
        closed = true
        let unfinished = Array(batches.values)
        batches.removeAll()
        for b in unfinished {
            for tid in b.active { if let t = transfers.removeValue(forKey: tid) { remove(t) } }
            b.end(b.results.map { $0 ?? .failure(.shutdown) })
        }
        let single = Array(transfers.values)
        transfers.removeAll()
        for t in single {
            remove(t)
            t.completion(.failure(.shutdown))
        }
        for h in idleHandles { curl_easy_cleanup(h) }
        idleHandles.removeAll()
        curl_multi_cleanup(multi)
        for fd in watched.keys { reactor.unwatch(fd) }
        watched.removeAll()
        deadline = nil
    }

    // MARK: Internals

    /// What curl wants watched on `fd` changed.
    private func socketChanged(_ fd: Int32, what: Int32) {
        let current = watched[fd]
        guard what != CURL_POLL_REMOVE else {
            guard let current else { return }
            if current.events & EPOLLOUT.rawValue != 0 {
                reactor.unwatch(fd)  // a writable socket would report at once, again and again
                watched[fd] = nil
            } else {
                watched[fd] = (current.events, true)
            }
            return
        }
        var events: UInt32 = 0
        if what & CURL_POLL_IN != 0 { events |= EPOLLIN.rawValue }
        if what & CURL_POLL_OUT != 0 { events |= EPOLLOUT.rawValue }
        if current?.events != events { reactor.watch(fd, events: events, isNew: current == nil, for: self) }
        watched[fd] = (events, false)
    }

    /// curl closes `fd` (CURLOPT_CLOSESOCKETFUNCTION): forget it before its number can return.
    private func socketClosed(_ fd: Int32) -> Int32 {
        if watched.removeValue(forKey: fd) != nil { reactor.unwatch(fd) }
        return Glibc.close(fd)
    }

    /// Builds the transfer's handle and gives it to curl; false when curl refused it.
    private func add(_ t: CurlTransfer, headers: UnsafeMutablePointer<curl_slist>? = nil) -> Bool {
        let reuse = idleHandles.popLast()
        guard let h = t.makeHandle(configuration, reuse: reuse, headers: headers) else {
            t.release()
            return false
        }
        if reuse == nil {
            // Connections remember the handle that opened them: this engine hears of every close.
            ccurl_setopt_pointer(h, CURLOPT_CLOSESOCKETDATA, Unmanaged.passUnretained(self).toOpaque())
            ccurl_setopt_closesocket(h) { user, fd in
                Unmanaged<CurlEngine>.fromOpaque(user!).takeUnretainedValue().socketClosed(fd)
            }
        }
        guard curl_multi_add_handle(multi, h) == CURLM_OK else {
            t.release()
            return false
        }
        transfers[t.id] = t
        return true
    }

    /// Takes the transfer out of curl and frees its handle (it did not finish).
    private func remove(_ t: CurlTransfer) {
        t.cancelled = true
        if let h = t.handle { curl_multi_remove_handle(multi, h) }
        t.release()
    }

    /// Returns a finished transfer's handle to the pool (or frees it when the pool is full).
    private func recycle(_ t: CurlTransfer) {
        guard let h = t.detachHandle() else { return }
        if idleHandles.count < Self.maxIdleHandles { idleHandles.append(h) } else { curl_easy_cleanup(h) }
    }

    /// Starts the batch's next request, if any.
    private func startNext(_ b: Batch) {
        guard b.next < b.requests.count, batches[b.id] != nil else { return }
        let k = b.next
        b.next += 1
        let tid = makeID()
        let t = CurlTransfer(id: tid, request: b.requests[k], maxBody: configuration.maxResponseBytes, started: csidecar_monotonic_ns()) {
            [unowned self] result in
            self.batchFinished(b, k, tid, result)
        }
        guard add(t, headers: b.headers(for: b.requests[k])) else { return batchFinished(b, k, tid, .failure(.badRequest)) }
        b.active.insert(tid)
    }

    private func batchFinished(_ b: Batch, _ k: Int, _ tid: UInt64, _ result: Result<ClientResponse, ClientError>) {
        guard batches[b.id] != nil else { return }
        b.results[k] = result
        b.active.remove(tid)
        b.remaining -= 1
        if b.remaining == 0 {
            batches[b.id] = nil
            b.end(b.results.map { $0! })
        } else {
            startNext(b)
        }
    }

    private func drainFinished() {
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard ccurl_msg_done(msg) != 0, let h = ccurl_msg_handle(msg) else { continue }
            let code = ccurl_msg_result(msg)
            var raw: UnsafeMutableRawPointer?
            ccurl_getinfo_pointer(h, CURLINFO_PRIVATE, &raw)
            guard let raw else { continue }
            let t = Unmanaged<CurlTransfer>.fromOpaque(raw).takeUnretainedValue()
            let outcome = t.outcome(code, now: csidecar_monotonic_ns())
            curl_multi_remove_handle(multi, h)
            transfers.removeValue(forKey: t.id)
            recycle(t)
            t.completion(outcome)
        }
    }
}
