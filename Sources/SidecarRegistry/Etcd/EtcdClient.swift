import FoundationEssentials
import Logging
import SidecarClient
import SidecarCluster
import SidecarHTTP
import Synchronization

/// Why a call to etcd got no answer: no member answered (the registry says 503), or etcd
/// refused the call (the same on every member), or its answer made no sense.
package struct EtcdFailure: Error, Sendable, CustomStringConvertible {
    package enum Kind: String, Sendable {
        case unavailable, refused
        case badAnswer = "bad_answer"
    }
    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { "\(kind.rawValue): \(message)" }
}

/// etcd's v3 JSON gateway through libcurl, on the members of `ETCD_ENDPOINTS`: a call goes to
/// the member in use and on to the next when one cannot be reached, times out or answers 5xx
/// (a member without a leader, mid-election); after every member failed it tries them again
/// until `patience` is spent. Any member answers any call: etcd forwards to its leader.
package final class EtcdClient: Sendable {
    package let endpoints: RegistryEndpoints
    private let client: CurlClient
    private let timeout: Duration
    private let patience: Duration
    private let logger: Logger
    private let failures = Atomic<Int>(0)

    /// `urls`: client URLs of the members (`http://10.0.0.1:2379`), in the order to try them.
    package init(urls: [String], client: CurlClient, logger: Logger, timeout: Duration = .seconds(2), patience: Duration = .seconds(3)) {
        endpoints = RegistryEndpoints(urls.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
        self.client = client
        self.timeout = timeout
        self.patience = patience
        self.logger = logger
    }

    /// Calls that failed on every member (or were refused), since start.
    package var errors: Int { failures.load(ordering: .relaxed) }

    /// POSTs `body` to `path` (`/v3/kv/range`...) and decodes the answer. A refusal whose reason
    /// holds `expected` is thrown without counting as an error.
    func call<Answer: Decodable>(
        _ path: String, _ body: some Encodable, as: Answer.Type = Answer.self, expected: String? = nil
    ) async throws(EtcdFailure) -> Answer {
        let bytes = JSONCoding.encode(body)
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        var last = "no member tried"
        while true {
            for (index, url) in endpoints.inTurn() {
                let request = ClientRequest(
                    method: "POST", url: url + path, headers: [("Content-Type", "application/json")], body: bytes, timeout: timeout)
                let answer: ClientResponse
                do {
                    answer = try await client.execute(request)
                } catch {
                    if error.code == .cancelled || error.code == .shutdown { throw fail(.unavailable, "\(url): \(error)") }
                    last = "\(url): \(error)"
                    continue
                }
                if answer.status == 200 {
                    guard let value = JSONCoding.decode(Answer.self, answer.body) else {
                        throw fail(.badAnswer, "\(url)\(path): the answer is not etcd's")
                    }
                    if endpoints.settle(on: index) {
                        logger.warning(
                            "etcd: moved to another member", metadata: ["etcd.url": "\(url)", "etcd.moves": "\(endpoints.moves)"])
                    }
                    return value
                }
                let reason =
                    JSONCoding.decode(EtcdErrorAnswer.self, answer.body).flatMap { $0.message ?? $0.error } ?? "HTTP \(answer.status)"
                // 5xx: this member cannot serve now (no leader, timed out); 429: too busy.
                guard answer.status >= 500 || answer.status == 429 else {
                    if let expected, reason.contains(expected) { throw EtcdFailure(.refused, "\(path): \(reason)") }
                    throw fail(.refused, "\(path): \(reason)")
                }
                last = "\(url): \(answer.status) \(reason)"
            }
            let pause = Duration.milliseconds(200)
            guard clock.now + pause < deadline, !Task.isCancelled else { break }
            try? await clock.sleep(for: pause)
        }
        throw fail(.unavailable, "no etcd member answered (last: \(last))")
    }

    private func fail(_ kind: EtcdFailure.Kind, _ message: String) -> EtcdFailure {
        failures.add(1, ordering: .relaxed)
        return EtcdFailure(kind, message)
    }

    // MARK: the calls the registry makes

    /// The keys from `key` up to `end` (one key when nil), at `revision` (now when nil).
    func range(_ key: EtcdBytes, end: EtcdBytes? = nil, revision: Int64? = nil) async throws(EtcdFailure) -> EtcdRangeResponse {
        try await call("/v3/kv/range", EtcdRangeRequest(key: key, range_end: end, revision: revision.map { EtcdInt($0) }))
    }

    func txn(_ request: EtcdTxnRequest) async throws(EtcdFailure) -> EtcdTxnResponse {
        try await call("/v3/kv/txn", request)
    }

    /// Deletes `key`; what it held, or nil when there was nothing.
    func delete(_ key: EtcdBytes) async throws(EtcdFailure) -> EtcdKeyValue? {
        let answer: EtcdDeleteResponse = try await call("/v3/kv/deleterange", EtcdDeleteRequest(key: key, prev_kv: true))
        return (answer.deleted?.value ?? 0) > 0 ? (answer.prev_kvs?.first ?? EtcdKeyValue(key: key)) : nil
    }

    /// A new lease of `ttl` seconds.
    func grant(ttl: Int64) async throws(EtcdFailure) -> Int64 {
        let answer: EtcdLeaseGrant = try await call("/v3/lease/grant", EtcdLeaseRequest(TTL: EtcdInt(ttl)))
        guard let id = answer.ID?.value, id != 0 else { throw fail(.badAnswer, "lease grant without an id") }
        return id
    }

    /// Renews `lease`; the seconds it now has, 0 when it has expired or never was.
    func keepAlive(_ lease: Int64) async throws(EtcdFailure) -> Int64 {
        let answer: EtcdKeepAliveResponse = try await call("/v3/lease/keepalive", EtcdLeaseRequest(ID: EtcdInt(lease)))
        return answer.result?.TTL?.value ?? 0
    }

    /// Ends `lease` and deletes its keys; a lease already gone is not an error.
    func revoke(_ lease: Int64) async throws(EtcdFailure) {
        do {
            let _: EtcdLeaseGrant = try await call("/v3/lease/revoke", EtcdLeaseRequest(ID: EtcdInt(lease)), expected: Self.leaseNotFound)
        } catch  where error.kind == .refused && error.message.contains(Self.leaseNotFound) {
            return
        }
    }

    /// etcd's reason for a lease that has run out or was revoked.
    static let leaseNotFound = "lease not found"

    // MARK: watch

    /// What a watch hands on: a message of the stream, or its end.
    enum WatchItem: Sendable {
        case message(EtcdWatchMessage)
        case ended(String)
    }

    /// Watches every key from `key` up to `end`, from `revision` on, on the member in use:
    /// the stream's messages in order, then `.ended` when the connection does (also when that
    /// member loses its leader). Ending the
    /// iteration (or cancelling its task) ends the watch.
    func watch(_ key: EtcdBytes, end: EtcdBytes, from revision: Int64) -> AsyncStream<WatchItem> {
        let body = JSONCoding.encode(
            EtcdWatchRequest(
                create_request: .init(key: key, range_end: end, start_revision: EtcdInt(revision), prev_kv: true, progress_notify: true)))
        let (stream, continuation) = AsyncStream.makeStream(of: WatchItem.self, bufferingPolicy: .unbounded)
        let lines = Mutex(WatchLines())
        // `hasleader`: a member that loses its leader (cut off from the others) ends the watch
        // with `no leader` instead of keeping it open without changes.
        var request = ClientRequest(
            method: "POST", url: endpoints.current + "/v3/watch",
            headers: [("Content-Type", "application/json"), ("Grpc-Metadata-Hasleader", "true")], body: body, timeout: .seconds(3600))
        request.bodySink = { piece in
            let messages = lines.withLock { $0.take(piece) }
            for line in messages {
                guard let message = JSONCoding.decode(EtcdWatchMessage.self, line) else {
                    continuation.yield(.ended("a watch message is not etcd's"))
                    return false
                }
                continuation.yield(.message(message))
            }
            return true
        }
        let id = client.execute(request) { result in
            switch result {
            case .success(let answer): continuation.yield(.ended("the watch ended (HTTP \(answer.status))"))
            case .failure(let error): continuation.yield(.ended("the watch failed: \(error)"))
            }
            continuation.finish()
        }
        continuation.onTermination = { [client] _ in client.cancel(id) }
        return stream
    }

    /// Moves to the next member (a watch that failed on the one in use).
    func moveOn() {
        let turn = endpoints.inTurn()
        if turn.count > 1 { endpoints.settle(on: turn[1].index) }
    }
}

/// Splits the watch stream into its messages: one JSON object per line.
struct WatchLines: Sendable {
    private var pending: [UInt8] = []
    /// Most bytes of one message kept (a bigger one is cut at this size and fails to decode).
    static let maxLine = 16 << 20

    /// The whole lines `piece` completes, without their line ends.
    mutating func take(_ piece: UnsafeRawBufferPointer) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for byte in piece {
            if byte == UInt8(ascii: "\n") {
                if !pending.isEmpty { lines.append(pending) }
                pending.removeAll(keepingCapacity: true)
            } else if pending.count < Self.maxLine {
                pending.append(byte)
            }
        }
        return lines
    }
}
