import CCurl
import CSidecarSystem
import Glibc
import Synchronization

/// An HTTP client on libcurl's multi interface, for callers on any thread or task.
///
/// One thread runs a `CurlEngine` on an epoll of its own; requests are handed to it and it is
/// woken through its eventfd. Connections are kept alive and reused across requests to the
/// same host. Redirects are off, TLS verification on, and every request has a deadline.
/// Completions run on the client's thread: keep them short.
public final class CurlClient: Sendable {
    private enum Command: Sendable {
        case start(UInt64, ClientRequest, @Sendable (Result<ClientResponse, ClientError>) -> Void)
        case batch(UInt64, [ClientRequest], Int, @Sendable ([Result<ClientResponse, ClientError>]) -> Void)
        case cancel(UInt64)
    }

    private let configuration: ClientConfiguration
    private let inbox = Mutex<(commands: [Command], running: Bool, nextID: UInt64)>(([], true, 0))
    /// The thread's epoll (to wake it), made with the thread on first use.
    private let started = Mutex<Epoll?>(nil)

    /// A client; its thread (and libcurl's TLS start-up) wait for the first request.
    public init(configuration: ClientConfiguration = ClientConfiguration()) {
        self.configuration = configuration
    }

    /// Wakes the client's thread, starting it on first use: a client that is never used costs
    /// no thread and no TLS library start-up.
    private func wake() {
        let epoll = started.withLock { existing -> Epoll? in
            if let existing { return existing }
            guard let thread = try? ClientThread(configuration: configuration) else { return nil }
            PosixThread.spawn { [self] in thread.run(self) }
            existing = thread.epoll
            return thread.epoll
        }
        guard let epoll else {
            // No epoll or eventfd (out of descriptors): fail what waits rather than hang.
            for command in take().0 { Self.fail(command, .shutdown) }
            return
        }
        epoll.wake()
    }
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
        wake()
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
        wake()
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
        wake()
    }

    /// Fails every transfer with `.shutdown` and ends the thread.
    public func shutdown() {
        inbox.withLock { $0.running = false }
        // Only a started client has a thread to fail what is queued and free the handle.
        started.withLock { $0 }?.wake()
    }

    /// Takes the queued commands (client thread), and whether the client still runs.
    private func take() -> ([Command], Bool) {
        inbox.withLock { box in
            defer { box.commands.removeAll() }
            return (box.commands, box.running)
        }
    }

    private static func fail(_ command: Command, _ error: ClientError) {
        switch command {
        case .start(_, _, let completion): completion(.failure(error))
        case .batch(_, let requests, _, let done): done(requests.map { _ in .failure(error) })
        case .cancel: break
        }
    }

    /// The client's thread: an epoll serving one engine, fed by the client's inbox.
    private final class ClientThread: Reactor, @unchecked Sendable {  // used only on its own thread after spawn
        let epoll: Epoll
        let configuration: ClientConfiguration
        var locals: [ObjectIdentifier: ReactorSource] = [:]

        init(configuration: ClientConfiguration) throws(SystemError) {
            epoll = try Epoll(capacity: 64)
            self.configuration = configuration
        }

        func run(_ client: CurlClient) {
            let engine = CurlEngine(configuration: configuration, reactor: self)
            while true {
                let (commands, alive) = client.take()
                for command in commands {
                    switch command {
                    case .start(let id, let request, let completion): engine.start(request, id: id, completion: completion)
                    case .batch(let id, let requests, let concurrency, let done): engine.startBatch(requests, concurrency: concurrency, id: id, completion: done)
                    case .cancel(let id): engine.cancel(id)
                    }
                }
                if !alive { break }  // close() below fails what was just started
                epoll.wait(timeoutMS: Epoll.timeoutMS(until: engine.deadline, now: csidecar_monotonic_ns())) { events, data in engine.ready(Int32(truncatingIfNeeded: data), events: events) }
                if let due = engine.deadline, due <= csidecar_monotonic_ns() { engine.fire() }
            }
            engine.close()
            for command in client.take().0 { CurlClient.fail(command, .shutdown) }
        }

        func watch(_ fd: Int32, events: UInt32, isNew: Bool, for source: ReactorSource) {
            epoll.watch(fd, events: events, data: UInt64(UInt32(bitPattern: fd)), isNew: isNew)
        }

        func unwatch(_ fd: Int32) { epoll.remove(fd) }

        func local(_ key: ObjectIdentifier, make: () -> ReactorSource) -> ReactorSource {
            if let existing = locals[key] { return existing }
            let made = make()
            locals[key] = made
            return made
        }
    }
}
