import CCurl
import CSidecarSystem
import Glibc
import SidecarHTTP
import SidecarPosix
import Synchronization

/// An HTTP client on libcurl's multi interface, for callers on any thread or task.
///
/// One event loop of its own hosts a `CurlEngine`; requests are handed to it through the
/// loop's mailbox. Connections are kept alive and reused across requests to the same host.
/// Redirects are off, TLS verification on, and every request has a deadline. Completions run
/// on the client's thread: keep them short.
package final class CurlClient: Sendable {
    private struct Started: @unchecked Sendable {  // the engine is touched only on `loop` (LoopBound asserts it)
        let loop: EventLoop
        let engine: LoopBound<CurlEngine>
    }

    private let configuration: ClientConfiguration
    /// Whether the client runs, and its loop once started: checked and used under one lock, so
    /// that nothing is queued behind the loop's stop.
    private let state = Mutex<(running: Bool, started: Started?)>((true, nil))
    private let ids = Atomic<UInt64>(0)

    /// A client; its thread (and libcurl's TLS start-up) wait for the first request.
    package init(configuration: ClientConfiguration = ClientConfiguration()) {
        self.configuration = configuration
    }

    /// Runs `work` with the engine on the client's thread, starting it on first use (a client
    /// that is never used costs no thread and no TLS library start-up); `fail` runs instead,
    /// at once, when the client is shut down or cannot start.
    private func onEngine(_ work: @escaping @Sendable (CurlEngine) -> Void, else fail: () -> Void) {
        let queued = state.withLock { s -> Bool in
            guard s.running else { return false }
            if s.started == nil {
                guard let loop = try? EventLoop() else { return false }  // out of descriptors
                let engine = CurlEngine(configuration: configuration, reactor: loop)
                loop.host(engine)
                s.started = Started(loop: loop, engine: LoopBound(engine, reactor: loop))
                loop.start()
            }
            let started = s.started!
            started.loop.execute { work(started.engine.value) }
            return true
        }
        if !queued { fail() }
    }

    private func makeID() -> UInt64 { ids.add(1, ordering: .relaxed).newValue }

    /// Hands `request` to the client; `completion` runs once, on the client's thread.
    /// Returns an id for `cancel`.
    @discardableResult
    package func execute(_ request: ClientRequest, completion: @escaping @Sendable (Result<ClientResponse, ClientError>) -> Void) -> UInt64
    {
        let id = makeID()
        start(request, id: id, completion: completion)
        return id
    }

    private func start(_ request: ClientRequest, id: UInt64, completion: @escaping @Sendable (Result<ClientResponse, ClientError>) -> Void)
    {
        onEngine({ $0.start(request, id: id, completion: completion) }, else: { completion(.failure(.shutdown)) })
    }

    /// Sends `request` and waits for its answer; task cancellation cancels the transfer, also
    /// when it comes before the request reached the client's thread.
    package func execute(_ request: ClientRequest) async throws(ClientError) -> ClientResponse {
        let id = makeID()
        let result: Result<ClientResponse, ClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                start(request, id: id) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            cancel(id)
        }
        return try result.get()
    }

    /// Sends every request of `requests`, at most `concurrency` at once, and calls `completion`
    /// once all ended, results in the order of `requests`, on the client's thread. One hand-over
    /// and one wake-up for the lot. Returns an id for `cancel`.
    @discardableResult
    package func execute(
        batch requests: [ClientRequest], concurrency: Int, completion: @escaping @Sendable ([Result<ClientResponse, ClientError>]) -> Void
    ) -> UInt64 {
        let id = makeID()
        startBatch(requests, concurrency: concurrency, id: id, completion: completion)
        return id
    }

    private func startBatch(
        _ requests: [ClientRequest], concurrency: Int, id: UInt64,
        completion: @escaping @Sendable ([Result<ClientResponse, ClientError>]) -> Void
    ) {
        guard !requests.isEmpty else { return completion([]) }
        onEngine(
            { $0.startBatch(requests, concurrency: max(1, concurrency), id: id, completion: completion) },
            else: {
                completion(requests.map { _ in .failure(.shutdown) })
            })
    }

    /// The same, awaited; task cancellation cancels what is still running.
    package func execute(batch requests: [ClientRequest], concurrency: Int) async -> [Result<ClientResponse, ClientError>] {
        guard !requests.isEmpty else { return [] }
        let id = makeID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                startBatch(requests, concurrency: concurrency, id: id) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            cancel(id)
        }
    }

    /// Stops the transfer (or batch) `id` if it is still running; its completion gets `.cancelled`.
    package func cancel(_ id: UInt64) {
        guard id != 0 else { return }
        onEngine({ $0.cancel(id) }, else: {})
    }

    /// Fails every transfer with `.shutdown` and ends the thread.
    package func shutdown() {
        state.withLock { s in
            s.running = false
            guard let started = s.started else { return }
            started.loop.execute { started.engine.value.close() }
            started.loop.stop()
        }
    }
}
