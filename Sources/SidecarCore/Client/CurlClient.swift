import CCurl
import CSidecarSystem
import Synchronization

/// An HTTP client on libcurl's multi interface.
///
/// One thread owns the multi handle and every transfer; requests are handed to it from any
/// thread or task and it is woken with `curl_multi_wakeup`. Connections are kept alive and
/// reused across requests to the same host. Redirects are off, TLS verification on, and
/// every request has a deadline. Completions run on the client's thread: keep them short.
public final class CurlClient: Sendable {
    private enum Command: Sendable {
        case start(UInt64, ClientRequest, @Sendable (Result<ClientResponse, ClientError>) -> Void)
        case batch(UInt64, [ClientRequest], Int, @Sendable ([Result<ClientResponse, ClientError>]) -> Void)
        case cancel(UInt64)
    }

    private let configuration: ClientConfiguration
    private let inbox = Mutex<(commands: [Command], running: Bool, nextID: UInt64)>(([], true, 0))
    /// The multi handle, made with the thread on first use.
    private let started = Mutex<MultiHandle?>(nil)

    /// A client; its thread (and libcurl's TLS start-up) wait for the first request.
    public init(configuration: ClientConfiguration = ClientConfiguration()) {
        self.configuration = configuration
    }

    /// The multi handle, starting the client's thread on first use: a client that is never
    /// used costs no thread and no TLS library start-up.
    private func startIfNeeded() -> MultiHandle {
        started.withLock { existing in
            if let existing { return existing }
            Self.globalInit
            let multi = MultiHandle(curl_multi_init())
            ccurl_multi_setopt_long(multi.pointer, CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxConnections)
            ccurl_multi_setopt_long(multi.pointer, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
            ccurl_multi_setopt_long(multi.pointer, CURLMOPT_MAXCONNECTS, configuration.maxConnections)
            let loop = MultiLoop(multi: multi, configuration: configuration)
            PosixThread.spawn { [self] in loop.run(self) }
            existing = multi
            return multi
        }
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Hands `request` to the client; `completion` runs once, on the client's thread.
    /// Returns an id for `cancel`.
    @discardableResult
    public func execute(_ request: ClientRequest, completion: @escaping @Sendable (Result<ClientResponse, ClientError>) -> Void) -> UInt64 {
        let id: UInt64? = inbox.withLock { box in
            guard box.running else { return nil }
            box.nextID += 1
            box.commands.append(.start(box.nextID, request, completion))
            return box.nextID
        }
        guard let id else {
            completion(.failure(.shutdown))
            return 0
        }
        curl_multi_wakeup(startIfNeeded().pointer)
        return id
    }

    /// Sends `request` and waits for its answer; task cancellation cancels the transfer.
    public func execute(_ request: ClientRequest) async throws(ClientError) -> ClientResponse {
        let idBox = Mutex<UInt64>(0)
        let result: Result<ClientResponse, ClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let id = execute(request) { continuation.resume(returning: $0) }
                idBox.withLock { $0 = id }
            }
        } onCancel: {
            cancel(idBox.withLock { $0 })
        }
        return try result.get()
    }

    /// Sends every request of `requests`, at most `concurrency` at once, and calls `completion`
    /// once all ended, results in the order of `requests`, on the client's thread. One hand-over
    /// and one wake-up for the lot: the fan-out's path. Returns an id for `cancel`.
    @discardableResult
    public func execute(
        batch requests: [ClientRequest], concurrency: Int, completion: @escaping @Sendable ([Result<ClientResponse, ClientError>]) -> Void
    ) -> UInt64 {
        guard !requests.isEmpty else {
            completion([])
            return 0
        }
        let id: UInt64? = inbox.withLock { box in
            guard box.running else { return nil }
            box.nextID += 1
            box.commands.append(.batch(box.nextID, requests, max(1, concurrency), completion))
            return box.nextID
        }
        guard let id else {
            completion(requests.map { _ in .failure(.shutdown) })
            return 0
        }
        curl_multi_wakeup(startIfNeeded().pointer)
        return id
    }

    /// The same, awaited; task cancellation cancels what is still running.
    public func execute(batch requests: [ClientRequest], concurrency: Int) async -> [Result<ClientResponse, ClientError>] {
        guard !requests.isEmpty else { return [] }
        let idBox = Mutex<UInt64>(0)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let id = execute(batch: requests, concurrency: concurrency) { continuation.resume(returning: $0) }
                idBox.withLock { $0 = id }
            }
        } onCancel: {
            cancel(idBox.withLock { $0 })
        }
    }

    /// Stops the transfer (or batch) `id` if it is still running; its completion gets `.cancelled`.
    public func cancel(_ id: UInt64) {
        guard id != 0 else { return }
        inbox.withLock { $0.commands.append(.cancel(id)) }
        curl_multi_wakeup(startIfNeeded().pointer)
    }

    /// Fails every transfer with `.shutdown` and ends the thread.
    public func shutdown() {
        inbox.withLock { $0.running = false }
        // Only a started client has a thread to fail what is queued and free the handle.
        if let multi = started.withLock({ $0 }) { curl_multi_wakeup(multi.pointer) }
    }

    /// Takes the queued commands (client thread), and whether the client still runs.
    private func take() -> ([Command], Bool) {
        inbox.withLock { box in
            defer { box.commands.removeAll() }
            return (box.commands, box.running)
        }
    }

    /// The multi loop: state confined to the client's thread.
    private final class MultiLoop: @unchecked Sendable {  // used only on the client's thread after spawn
        let multi: MultiHandle
        let configuration: ClientConfiguration
        var transfers: [UInt64: CurlTransfer] = [:]
        var batches: [UInt64: Batch] = [:]
        /// Easy handles kept for reuse: creating one costs several allocations per request.
        var idleHandles: [UnsafeMutableRawPointer] = []
        static let maxIdleHandles = 256

        /// Returns a finished transfer's handle to the pool (or frees it when the pool is full).
        func recycle(_ t: CurlTransfer) {
            guard let h = t.detachHandle() else { return }
            if idleHandles.count < Self.maxIdleHandles { idleHandles.append(h) } else { curl_easy_cleanup(h) }
        }
        /// Ids of batch transfers: the top bit keeps them apart from the client's ids.
        var nextBatchTransfer: UInt64 = 1 << 63

        /// A batch in progress (client thread only).
        final class Batch: @unchecked Sendable {  // touched only on the client's thread
            let id: UInt64
            let requests: [ClientRequest]
            let done: @Sendable ([Result<ClientResponse, ClientError>]) -> Void
            var next = 0
            var remaining: Int
            var results: [Result<ClientResponse, ClientError>?]
            var active: Set<UInt64> = []

            init(id: UInt64, requests: [ClientRequest], done: @escaping @Sendable ([Result<ClientResponse, ClientError>]) -> Void) {
                self.id = id
                self.requests = requests
                self.done = done
                remaining = requests.count
                results = Array(repeating: nil, count: requests.count)
            }
        }

        init(multi: MultiHandle, configuration: ClientConfiguration) {
            self.multi = multi
            self.configuration = configuration
        }

        func run(_ client: CurlClient) {
            var running: Int32 = 0
            while true {
                let (commands, alive) = client.take()
                for command in commands { apply(command) }
                if !alive { break }
                curl_multi_perform(multi.pointer, &running)
                drainFinished()
                curl_multi_poll(multi.pointer, nil, 0, 1000, nil)
            }
            let unfinished = Array(batches.values)
            batches.removeAll()
            for b in unfinished { b.done(b.results.map { $0 ?? .failure(.shutdown) }) }
            for (_, t) in transfers {
                curl_multi_remove_handle(multi.pointer, t.handle)
                t.release()
                t.completion(.failure(.shutdown))
            }
            transfers.removeAll()
            for command in client.take().0 {
                switch command {
                case .start(_, _, let completion): completion(.failure(.shutdown))
                case .batch(_, let requests, _, let done): done(requests.map { _ in .failure(.shutdown) })
                case .cancel: break
                }
            }
            for h in idleHandles { curl_easy_cleanup(h) }
            idleHandles.removeAll()
            curl_multi_cleanup(multi.pointer)
        }

        private func apply(_ command: Command) {
            switch command {
            case .start(let id, let request, let completion):
                let t = CurlTransfer(id: id, request: request, maxBody: configuration.maxResponseBytes, started: csidecar_monotonic_ns(), completion: completion)
                guard let h = t.makeHandle(configuration, reuse: idleHandles.popLast()), curl_multi_add_handle(multi.pointer, h) == CURLM_OK else {
                    t.release()
                    completion(.failure(.badRequest))
                    return
                }
                transfers[id] = t
            case .batch(let id, let requests, let concurrency, let done):
                let b = Batch(id: id, requests: requests, done: done)
                batches[id] = b
                for _ in 0..<min(concurrency, requests.count) { startNext(b) }
            case .cancel(let id) where batches[id] != nil:
                let b = batches.removeValue(forKey: id)!
                for tid in b.active {
                    guard let t = transfers.removeValue(forKey: tid) else { continue }
                    curl_multi_remove_handle(multi.pointer, t.handle)
                    t.release()
                }
                b.done(b.results.map { $0 ?? .failure(.cancelled) })
            case .cancel(let id):
                guard let t = transfers.removeValue(forKey: id) else { return }
                curl_multi_remove_handle(multi.pointer, t.handle)
                t.release()
                t.completion(.failure(.cancelled))
            }
        }

        /// Starts the batch's next request, if any.
        private func startNext(_ b: Batch) {
            guard b.next < b.requests.count, batches[b.id] != nil else { return }
            let k = b.next
            b.next += 1
            nextBatchTransfer &+= 1
            let tid = nextBatchTransfer
            let t = CurlTransfer(id: tid, request: b.requests[k], maxBody: configuration.maxResponseBytes, started: csidecar_monotonic_ns()) {
                [unowned self] result in
                self.batchFinished(b, k, tid, result)
            }
            guard let h = t.makeHandle(configuration, reuse: idleHandles.popLast()), curl_multi_add_handle(multi.pointer, h) == CURLM_OK else {
                t.release()
                batchFinished(b, k, tid, .failure(.badRequest))
                return
            }
            transfers[tid] = t
            b.active.insert(tid)
        }

        private func batchFinished(_ b: Batch, _ k: Int, _ tid: UInt64, _ result: Result<ClientResponse, ClientError>) {
            guard batches[b.id] != nil else { return }
            b.results[k] = result
            b.active.remove(tid)
            b.remaining -= 1
            if b.remaining == 0 {
                batches[b.id] = nil
                b.done(b.results.map { $0! })
            } else {
                startNext(b)
            }
        }

        private func drainFinished() {
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi.pointer, &left) {
                guard ccurl_msg_done(msg) != 0, let h = ccurl_msg_handle(msg) else { continue }
                let code = ccurl_msg_result(msg)
                var raw: UnsafeMutableRawPointer?
                ccurl_getinfo_pointer(h, CURLINFO_PRIVATE, &raw)
                guard let raw else { continue }
                let t = Unmanaged<CurlTransfer>.fromOpaque(raw).takeUnretainedValue()
                let outcome = t.outcome(code, now: csidecar_monotonic_ns())
                curl_multi_remove_handle(multi.pointer, h)
                transfers.removeValue(forKey: t.id)
                recycle(t)
                t.completion(outcome)
            }
        }
    }
}

/// The multi handle pointer. curl_multi_wakeup is documented as safe from any thread;
/// everything else is called on the client's thread only.
struct MultiHandle: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer?) { self.pointer = pointer! }
}
