import Logging
import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarSettings
import SidecarTLS
import Synchronization

/// Sends one request to every node of the cluster and gathers every answer and every failure.
/// On an event loop, `http://` nodes go through our own client (`HTTP1Engine`) and the others
/// through libcurl on the same loop (`LoopFanOut`); without one, through the curl client.
package struct FanOut: Sendable {
    /// Limits of the fan-out.
    package struct Settings: Sendable {
        /// Most node requests of one fan-out in flight at once: 1,024 by default, so that a
        /// cluster of up to 1,024 nodes goes out in one wave (at 64, a 1,024-node fan-out took 16
        /// waves of the nodes' latency); each loop's clients still cap connections (8 per node,
        /// `connectionsPerLoop` in all) and the answers' memory is `maxBufferedBytes`'s.
        package var concurrency: Int
        /// Per-node deadline when the caller gives none.
        package var timeout: Duration
        /// Largest answer kept per node; above it the node is a `too_large` failure.
        package var maxResponseBytes: Int
        /// Most fan-outs in flight at once (`FANOUT_MAX_PENDING`); beyond it a call is refused
        /// at once with 503 and `Retry-After`.
        package var maxPending: Int
        /// A fan-out to at least this many nodes is split across the server's event loops, one
        /// contiguous part each (0: never). Measured on 2 cores (bench/README.md): at 256 nodes
        /// the split cut p50 overhead by 41 % and p99 by 29 %; at 64 it cost 12 % at p50.
        package var spreadMinimum: Int
        /// The memory budget of answers held by fan-outs in flight (`FANOUT_MAX_BUFFERED_BYTES`),
        /// counted as `AnswerBudget.weight` says; while it is spent, new fan-outs are refused
        /// at once with 503 `fanout_overloaded` (those running finish).
        package var maxBufferedBytes: Int
        /// When a failing node is left out (`FANOUT_EJECT_AFTER`, `FANOUT_EJECT_TIME`,
        /// `FANOUT_MAX_EJECTED_PERCENT`).
        package var outliers: OutlierMachine.Policy = .init()
        /// How often an ejected node's `/readyz` is checked (`FANOUT_PROBE_INTERVAL`).
        package var probeInterval: Duration = .seconds(2)
        /// How long a resolved host name is kept (`FANOUT_DNS_TTL`).
        package var dnsTTL: Duration = .seconds(30)
        /// What `https://` nodes are checked against, and the certificate presented to them.
        package var outboundTLS = OutboundTLS()

        package init(
            concurrency: Int = 1024, timeout: Duration = .seconds(10), maxResponseBytes: Int = 1 << 20, maxPending: Int = 256,
            spreadMinimum: Int = 128,
            maxBufferedBytes: Int = 128 << 20
        ) {
            self.maxBufferedBytes = maxBufferedBytes
            self.concurrency = concurrency
            self.timeout = timeout
            self.maxResponseBytes = maxResponseBytes
            self.maxPending = maxPending
            self.spreadMinimum = spreadMinimum
        }
    }

    package let settings: Settings
    /// Most connections one event loop's fan-out engine keeps open (8 per node): room for 512
    /// nodes, so that concurrent fan-outs to large clusters do not close and reopen connections.
    package static let connectionsPerLoop = 4096
    let client: CurlClient
    let tokens: TokenProvider?
    /// Fan-outs in flight now, against `settings.maxPending`.
    let pending = PendingCount()
    /// Answers held by fan-outs in flight, against `settings.maxBufferedBytes`.
    package let budget = AnswerBudget()
    /// The nodes left out for failing, shared by every loop's fan-outs.
    package let outliers: Outliers
    /// Host names of `http://` nodes, resolved for our own client.
    package let names: NameCache
    /// Waits out the backoff between retries (a manual clock in tests).
    let clock: any SidecarClock
    let logger: Logger?
    /// The last reason a fan-out had no node, logged once per change.
    private let nobody = Trouble()
    private let clientConfiguration: ClientConfiguration
    /// Our own client's TLS for `https://` nodes, which a settings refresh replaces.
    package var clientTLS: TLSClientContext? { clientConfiguration.tls }
    /// Names this fan-out's engines on each event loop it runs on.
    private let engineKey = EngineKey()
    private let http1Key = EngineKey()
    private final class EngineKey: Sendable {}

    /// A fan-out engine with its own client (whose answer cap is `settings.maxResponseBytes`).
    package init(
        settings: Settings, tokens: TokenProvider?, connectTimeout: Duration = .seconds(5), clock: any SidecarClock = SystemClock(),
        logger: Logger? = nil, names: NameCache? = nil
    ) {
        self.settings = settings
        self.tokens = tokens
        self.clock = clock
        self.logger = logger
        outliers = Outliers(policy: settings.outliers, logger: logger)
        self.names = names ?? NameCache(ttl: settings.dnsTTL)
        clientConfiguration = settings.outboundTLS.applied(
            to: ClientConfiguration(
                connectTimeout: connectTimeout, requestTimeout: settings.timeout, maxResponseBytes: settings.maxResponseBytes,
                maxConnections: Self.connectionsPerLoop, maxConnectionsPerHost: 8, environmentProxies: false))
        client = CurlClient(configuration: clientConfiguration)
    }

    /// Logs why a fan-out had no node to send to: at warning when the reason is new, at debug
    /// when it repeats.
    package func noteNoNodes(_ hint: String) {
        logger?.log(level: nobody.changed(to: hint) ? .warning : .debug, "fan-out to no node", metadata: ["hint": "\(hint)"])
    }

    /// The active checks of the nodes this fan-out ejects, on its own client.
    package func prober() -> OutlierProber { OutlierProber(outliers: outliers, interval: settings.probeInterval, client: client) }

    /// Why a fan-out could not start (the caller answers 502).
    package struct Unavailable: Error, Sendable {
        package let message: String
    }

    /// Starts `request` on `servers` without a task, when it needs no retries and its token is
    /// known (`token`: the cluster token, or nil for none). The fast path: with a `reactor` (the
    /// event loop the request came in on, calling from its thread) the nodes' requests run on
    /// that loop and `completion` runs there too, with no thread hand-over at all; without one
    /// they go to the client's thread, where `completion` runs.
    ///
    /// With a `listener`, each node's result goes to it as it comes (an ejected node's at once),
    /// and the result handed to `completion` keeps only the answers' statuses. Such a fan-out
    /// is not split across loops.
    package func start(
        _ request: FanOutRequest, servers: [ServerInfo], selfID: String?, correlationID: String, token: Secret?,
        on reactor: (any Reactor)? = nil, spreadOver loops: () -> [any Reactor] = { [] }, listener: (any FanOutListener)? = nil,
        completion: @escaping @Sendable (FanOutResult) -> Void
    ) {
        let targets = servers.filter { request.includeSelf || $0.id != selfID }
        let headers = Self.headers(request, correlationID, token)
        let skipped = outliers.screen(targets, now: clock.now)
        let sentIndices = skipped.map { s in targets.indices.filter { s[$0] == nil } } ?? Array(targets.indices)
        let sent = skipped == nil ? targets : sentIndices.map { targets[$0] }
        if let listener {
            listener.begin(targets)
            for (k, s) in (skipped ?? []).enumerated() { if let s { _ = listener.finished(k, .failure(s)) } }
        }
        let deadline = Self.deadline(request)
        let (outliers, clock) = (outliers, clock)
        let done: @Sendable ([Result<ClientResponse, ClientError>]) -> Void = { results in
            let all = Self.merged(results, skipped)
            outliers.learn(targets, all, clusterSize: targets.count, now: clock.now)
            completion(FanOutResult(servers: targets, outcomes: all.map(Self.outcome)))
        }
        guard let reactor else {
            // Off a loop (no server's loop to count on), a quorum is not applied; a deadline is.
            let (budget, cap) = (budget, settings.maxResponseBytes)
            client.execute(batch: Self.requests(Self.capped(request, by: deadline), sent, headers), concurrency: settings.concurrency) {
                answers in
                let counted = answers.map { Self.counted($0, maxResponseBytes: cap, in: listener == nil ? budget : nil) }
                if let listener { for (k, r) in zip(sentIndices, counted) { _ = listener.finished(k, r) } }
                done(counted)
            }
            return
        }
        let urls = sent.map(\.url)
        let limits = LoopFanOut.Limits(quorum: request.quorum, deadline: deadline)
        // A quorum is counted on one loop, and a listener paces one loop: such a fan-out is not split.
        if settings.spreadMinimum > 0 && urls.count >= settings.spreadMinimum && request.quorum == nil && listener == nil {
            let others = loops().filter { $0 !== reactor }
            if !others.isEmpty { return spread(request, urls, headers, first: reactor, others: others, limits: limits, done: done) }
        }
        let report = listener.map { LoopFanOut.Report(listener: $0, indices: sentIndices, reactor: reactor) }
        onLoop(reactor, request, urls, headers, limits: limits, report: report, done: done)
    }

    /// Splits the nodes into one contiguous part per loop, the first on `first` (this thread),
    /// sharing `FANOUT_CONCURRENCY` between them; `done` gets every result in order, on the
    /// thread of the part that ended last.
    private func spread(
        _ request: FanOutRequest, _ urls: [String], _ headers: [(String, String)], first: any Reactor, others: [any Reactor],
        limits: LoopFanOut.Limits, done: @escaping @Sendable ([Result<ClientResponse, ClientError>]) -> Void
    ) {
        let loops = [first] + others
        let parts = min(loops.count, urls.count)
        let merger = SpreadMerger(count: urls.count, parts: parts, done: done)
        let size = (urls.count + parts - 1) / parts
        for k in stride(from: parts - 1, through: 0, by: -1) {
            let range = (k * size)..<min(urls.count, (k + 1) * size)
            let slice = Array(urls[range])
            let loop = loops[k]
            let start = range.lowerBound
            let concurrency = max(1, settings.concurrency / parts + (k < settings.concurrency % parts ? 1 : 0))
            let deadline = limits.deadline
            if k == 0 {
                onLoop(loop, request, slice, headers, concurrency: concurrency, limits: limits) { merger.add(start, $0) }
            } else {
                loop.execute { [self] in
                    onLoop(loop, request, slice, headers, concurrency: concurrency, limits: .init(deadline: deadline)) {
                        merger.add(start, $0)
                    }
                }
            }
        }
    }

    /// One round on `reactor` (from its thread): our own client's nodes and curl's, results in order.
    private func onLoop(
        _ reactor: any Reactor, _ request: FanOutRequest, _ urls: [String], _ headers: [(String, String)], concurrency: Int? = nil,
        limits: LoopFanOut.Limits = .init(), report: LoopFanOut.Report? = nil,
        done: @escaping ([Result<ClientResponse, ClientError>]) -> Void
    ) {
        let http1 = HTTP1Engine.attached(to: reactor, key: ObjectIdentifier(http1Key), configuration: clientConfiguration)
        let (key, configuration) = (ObjectIdentifier(engineKey), clientConfiguration)
        LoopFanOut.start(
            urls: urls, request: request, headers: headers, http1: http1, budget: budget, maxResponseBytes: settings.maxResponseBytes,
            curl: { CurlEngine.attached(to: reactor, key: key, configuration: configuration) },
            concurrency: concurrency ?? settings.concurrency, limits: limits, names: .init(cache: names, reactor: reactor), report: report,
            done: done)
    }

    /// The request's headers, plus the correlation id and, when the caller sent none, `token`.
    static func headers(_ request: FanOutRequest, _ correlationID: String, _ token: Secret?) -> [(String, String)] {
        var headers = request.headers
        headers.append(("x-correlation-id", correlationID))
        if let token, !request.hasAuthorization { headers.append(("Authorization", "Bearer \(token.value)")) }
        return headers
    }

    /// When the whole of `request` must have ended, on the engines' clock (nil: no deadline).
    static func deadline(_ request: FanOutRequest) -> MonotonicInstant? { request.deadline.map { SystemClock().now + $0 } }

    /// `request` with each node's timeout ending by `deadline` at the latest.
    static func capped(_ request: FanOutRequest, by deadline: MonotonicInstant?) -> FanOutRequest {
        guard let deadline else { return request }
        var capped = request
        capped.timeout = min(request.timeout, SystemClock().now.duration(to: deadline))
        return capped
    }

    /// The results of the nodes sent to, with the ejected ones' failures in their places.
    static func merged(_ results: [Result<ClientResponse, ClientError>], _ skipped: [ClientError?]?) -> [Result<
        ClientResponse, ClientError
    >] {
        guard let skipped else { return results }
        var sent = results.makeIterator()
        return skipped.map { s in s.map { .failure($0) } ?? sent.next() ?? .failure(ClientError(.cancelled, "not sent")) }
    }

    static func outcome(_ result: Result<ClientResponse, ClientError>) -> FanOutResult.Outcome {
        switch result {
        case .success(let r): .answered(r)
        case .failure(let e): .failed(e)
        }
    }

    /// The cluster token for a fan-out if it is at hand without waiting (`.some(nil)`: none
    /// configured); nil when it must be fetched.
    func tokenIfReady(_ request: FanOutRequest) -> Secret?? {
        guard let tokens else { return .some(nil) }
        return tokens.tokenIfReady(cluster: true, parameters: request.tokenParameters)
    }

    static func requests(_ request: FanOutRequest, _ targets: [ServerInfo], _ headers: [(String, String)]) -> [ClientRequest] {
        targets.map { clientRequest(request, url: $0.url, headers) }
    }

    /// The request for the node at `url` (its base URL; the request's path follows it).
    static func clientRequest(_ request: FanOutRequest, url: String, _ headers: [(String, String)]) -> ClientRequest {
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        return ClientRequest(
            method: request.method, url: base + request.path, headers: headers, body: request.body, timeout: request.timeout)
    }

    /// A node's result as the fan-out keeps it, counted in `budget`: the answer, unless its body
    /// written as a JSON string in the aggregate would take more than twice `maxResponseBytes`
    /// (a body of control bytes takes six times its size): then a `too_large` failure, as a body
    /// over the cap is. A body spliced in as JSON is never escaped, so it is never refused here.
    /// The body is read once, for the cap and the count alike.
    static func counted(
        _ result: Result<ClientResponse, ClientError>, maxResponseBytes: Int, in budget: AnswerBudget?
    ) -> Result<ClientResponse, ClientError> {
        guard case .success(let r) = result else { return result }
        let escaped = AnswerBudget.escapedLength(r.body)
        if escaped > 2 * maxResponseBytes + 2
            && !(r.headers["content-type"].map(FanOutResult.mentionsJSON) == true && JSONText.isValid(r.body))
        {
            return .failure(ClientError(.tooLarge, "answer over twice FANOUT_MAX_RESPONSE_BYTES once escaped as a JSON string"))
        }
        budget?.hold(AnswerBudget.weight(r, escaped: escaped))
        return result
    }

    /// Whether a node's result may change if the request goes again: no answer for a passing
    /// reason (connect, timeout, io) or a gateway's 502, 503 or 504.
    static func worthRetrying(_ result: Result<ClientResponse, ClientError>) -> Bool {
        switch result {
        case .success(let r): [502, 503, 504].contains(r.status)
        case .failure(let e): e.code.isTransient
        }
    }

    /// The wait before retry number `attempt` (1, 2, ...): 50 ms, doubling, at most 1 s.
    package static func backoff(attempt: Int) -> Duration {
        .milliseconds(min(1000, 50 << min(max(attempt, 1) - 1, 10)))
    }

    /// The cluster token `request` needs (nil: it carries its own `Authorization`, or none is
    /// configured), fetched when it is not at hand.
    package func token(for request: FanOutRequest) async throws(Unavailable) -> Secret? {
        guard !request.hasAuthorization, let tokens else { return nil }
        do {
            return try await tokens.token(cluster: true, parameters: request.tokenParameters)
        } catch {
            throw Unavailable(message: "no cluster token: \(error.label)")
        }
    }

    /// Runs `request` on `servers` (in cluster order; `selfID` dropped unless `includeSelf`).
    /// Each round sends every pending node at once, on `reactor` when given (as `start` does)
    /// or to the curl client; retryable failures go again, after a backoff. `token`: the
    /// cluster token when the caller fetched it already (else it is fetched here).
    ///
    /// With a `listener`, each node's result goes to it once final: as it comes when it will
    /// not be retried, else when its last round ended; the answers it took are kept only by
    /// status. Rounds stop when its reader goes.
    package func run(
        _ request: FanOutRequest, servers: [ServerInfo], selfID: String?, correlationID: String, on reactor: (any Reactor)? = nil,
        token known: Secret?? = nil, listener: (any FanOutListener)? = nil
    ) async throws(Unavailable) -> FanOutResult {
        let targets = servers.filter { request.includeSelf || $0.id != selfID }
        let token: Secret?
        if let known { token = known } else { token = try await self.token(for: request) }
        let headers = Self.headers(request, correlationID, token)
        var outcomes = [FanOutResult.Outcome](repeating: .failed(ClientError(.cancelled, "not sent")), count: targets.count)
        let skipped = outliers.screen(targets, now: clock.now)
        var pending = Array(targets.indices)
        let rounds = listener.map { RoundListener($0, targets: targets) }
        if let skipped {
            pending = pending.filter { skipped[$0] == nil }
            for (k, s) in skipped.enumerated() {
                guard let s else { continue }
                outcomes[k] = .failed(s)
                rounds?.report(k, .failure(s))
            }
        }
        // A listener writes the answers away: they are not held in the budget.
        let budget = listener == nil ? budget : nil
        var attempt = 0
        // The deadline is on the engines' clock; the quorum counts 2xx answers of every round.
        let deadline = Self.deadline(request)
        var succeeded = 0
        while !pending.isEmpty {
            let results: [Result<ClientResponse, ClientError>]
            let last = !request.retryable || attempt >= request.retries
            if let reactor {
                let urls = pending.map { targets[$0].url }
                let limits = LoopFanOut.Limits(quorum: request.quorum.map { $0 - succeeded }, deadline: deadline)
                let report = rounds.map { LoopFanOut.Report(listener: $0.round(last: last), indices: pending, reactor: reactor) }
                results = await withCheckedContinuation { continuation in
                    reactor.execute { [self] in
                        onLoop(reactor, request, urls, headers, limits: limits, report: report) { continuation.resume(returning: $0) }
                    }
                }
            } else {
                let answers = await client.execute(
                    batch: Self.requests(Self.capped(request, by: deadline), pending.map { targets[$0] }, headers),
                    concurrency: settings.concurrency)
                results = answers.map { Self.counted($0, maxResponseBytes: settings.maxResponseBytes, in: budget) }
            }
            outliers.learn(pending.map { targets[$0] }, results, clusterSize: targets.count, now: clock.now)
            var again: [Int] = []
            for (k, result) in zip(pending, results) {
                // The answer a retry replaces is no longer held.
                budget?.release(AnswerBudget.weight(outcomes[k]))
                outcomes[k] = Self.outcome(result)
                if case .success(let r) = result, (200..<300).contains(r.status) { succeeded += 1 }
                if Self.worthRetrying(result) { again.append(k) }
            }
            if let quorum = request.quorum, succeeded >= quorum { again = [] }
            // A node ejected by this round's failure is not sent to again (it keeps that failure).
            if !again.isEmpty, let s = outliers.screen(again.map { targets[$0] }, now: clock.now) {
                again = again.indices.filter { s[$0] == nil }.map { again[$0] }
            }
            var goOn = request.retryable && attempt < request.retries && !again.isEmpty && !Task.isCancelled
            goOn = goOn && listener?.isCancelled != true
            // No retry the deadline would end before it is sent.
            if goOn, let deadline, SystemClock().now + Self.backoff(attempt: attempt + 1) >= deadline { goOn = false }
            // What will not go again is final now.
            rounds?.reportAll(except: goOn ? Set(again) : [], outcomes)
            guard goOn else { break }
            attempt += 1
            do {
                try await clock.sleep(until: clock.now + Self.backoff(attempt: attempt), tolerance: nil)
            } catch {
                rounds?.reportAll(except: [], outcomes)
                break
            }
            pending = again
        }
        return FanOutResult(servers: targets, outcomes: outcomes)
    }
}
