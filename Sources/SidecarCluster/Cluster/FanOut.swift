import SidecarPosix
import SidecarHTTP
import SidecarClient
/// What a fan-out gathered: every node, in cluster order, with its answer or its failure.
/// `json()` writes the contract's aggregate (§7) without building a tree: a node's JSON answer
/// is checked and spliced in as it came.
public struct FanOutResult: Sendable {
    /// One node's outcome.
    public enum Outcome: Sendable {
        case answered(ClientResponse)
        case failed(code: String, message: String)
    }

    public var servers: [ServerInfo]
    public var outcomes: [Outcome]

    /// Whether a node answered 2xx.
    static func succeeded(_ o: Outcome) -> Bool {
        if case .answered(let r) = o { return (200..<300).contains(r.status) }
        return false
    }

    /// `{"data": [...], "results": [...], "failures": [...]}`.
    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 256 + outcomes.count * 256)
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(outcomes.count)
        for o in outcomes {
            if case .answered(let r) = o, (200..<300).contains(r.status) { payloads.append(Self.payload(r)) }
        }
        w.raw("{\"data\":[")
        for (k, p) in payloads.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw(p)
        }
        w.raw("],\"results\":[")
        var first = true
        var p = 0
        for (k, o) in outcomes.enumerated() {
            guard case .answered(let r) = o, (200..<300).contains(r.status) else { continue }
            if !first { w.raw(",") }
            first = false
            w.raw("{\"result\":{\"status\":")
            w.int(r.status)
            w.raw(",\"headers\":")
            Self.headers(r.headers, &w)
            w.raw(",\"data\":")
            w.raw(payloads[p])
            p += 1
            w.raw(",\"durationMs\":")
            w.milliseconds(r.duration * 1000)
            w.raw("},\"server\":")
            node(k, &w)
            w.raw("}")
        }
        w.raw("],\"failures\":[")
        first = true
        for (k, o) in outcomes.enumerated() where !Self.succeeded(o) {
            if !first { w.raw(",") }
            first = false
            w.raw("{\"error\":{\"code\":")
            switch o {
            case .answered(let r):
                w.string("http_status")
                w.raw(",\"message\":")
                w.string("node answered \(r.status)")
                w.raw(",\"status\":")
                w.int(r.status)
                w.raw(",\"data\":")
                w.raw(Self.payload(r))
            case .failed(let code, let message):
                w.string(code)
                w.raw(",\"message\":")
                w.string(message)
            }
            w.raw("},\"server\":")
            node(k, &w)
            w.raw("}")
        }
        w.raw("]}")
        return w.bytes
    }

    private func node(_ k: Int, _ w: inout JSONWriter) {
        w.raw("{\"id\":")
        w.string(servers[k].id)
        w.raw(",\"url\":")
        w.string(servers[k].url)
        w.raw("}")
    }

    /// Header names in lower case; a repeated field's values joined with ", ". Compared in
    /// place, without building lower-cased copies: answers carry a handful of fields.
    private static func headers(_ fields: HTTPFields, _ w: inout JSONWriter) {
        let all = fields.storage
        w.raw("{")
        var first = true
        for (k, f) in all.enumerated() where !all[..<k].contains(where: { $0.name.equalsIgnoringASCIICase(f.name) }) {
            if !first { w.raw(",") }
            first = false
            w.lowercasedString(f.name)
            w.raw(":")
            var value = f.value
            for later in all[(k + 1)...] where later.name.equalsIgnoringASCIICase(f.name) { value += ", " + later.value }
            w.string(value)
        }
        w.raw("}")
    }

    /// The node's body as JSON text: as it came when it said JSON and is valid JSON, else a
    /// string; `null` when empty.
    static func payload(_ r: ClientResponse) -> [UInt8] {
        if r.body.isEmpty { return Array("null".utf8) }
        if let type = r.headers["content-type"], Self.mentionsJSON(type), JSONText.isValid(r.body) {
            return r.body
        }
        var w = JSONWriter(capacity: r.body.count + 2)
        w.string(String(decoding: r.body, as: UTF8.self))
        return w.bytes
    }

    /// Whether a media type names JSON (`application/json`, `application/problem+json`, ...),
    /// in any case: a byte search, no lower-cased copy.
    static func mentionsJSON(_ type: String) -> Bool {
        let u = Array(type.utf8)
        guard u.count >= 4 else { return false }
        for i in 0...(u.count - 4) where u[i] | 0x20 == 0x6A && u[i + 1] | 0x20 == 0x73 && u[i + 2] | 0x20 == 0x6F && u[i + 3] | 0x20 == 0x6E {
            return true
        }
        return false
    }
}

/// Sends one request to every node of the cluster over the multi client and gathers every
/// answer and every failure.
public struct FanOut: Sendable {
    /// Limits of the fan-out.
    public struct Settings: Sendable {
        /// Most node requests in flight at once.
        public var concurrency: Int
        /// Per-node deadline when the caller gives none, in seconds.
        public var timeout: Double
        /// Largest answer kept per node; above it the node is a `too_large` failure.
        public var maxResponseBytes: Int

        public init(concurrency: Int = 64, timeout: Double = 10, maxResponseBytes: Int = 1 << 20) {
            self.concurrency = concurrency
            self.timeout = timeout
            self.maxResponseBytes = maxResponseBytes
        }
    }

    public let settings: Settings
    /// Most connections one event loop's fan-out engine keeps open (8 per node): room for 512
    /// nodes, so that concurrent fan-outs to large clusters do not close and reopen connections.
    public static let connectionsPerLoop = 4096
    let client: CurlClient
    let tokens: TokenProvider?
    private let clientConfiguration: ClientConfiguration
    /// Names this fan-out's curl engine on each event loop it runs on.
    private let engineKey = EngineKey()
    private final class EngineKey: Sendable {}

    /// A fan-out engine with its own client (whose answer cap is `settings.maxResponseBytes`).
    public init(settings: Settings, tokens: TokenProvider?, connectTimeout: Double = 5) {
        self.settings = settings
        self.tokens = tokens
        clientConfiguration = ClientConfiguration(
            connectTimeout: connectTimeout, requestTimeout: settings.timeout, maxResponseBytes: settings.maxResponseBytes,
            maxConnections: Self.connectionsPerLoop, maxConnectionsPerHost: 8, environmentProxies: false)
        client = CurlClient(configuration: clientConfiguration)
    }

    /// Why a fan-out could not start (the caller answers 502).
    public struct Unavailable: Error, Sendable {
        public let message: String
    }

    /// Starts `request` on `servers` without a task, when it needs no retries and its token is
    /// known (`token`: the cluster token, or nil for none). The fast path: with a `reactor` (the
    /// event loop the request came in on, calling from its thread) the nodes' requests run on
    /// that loop and `completion` runs there too, with no thread hand-over at all; without one
    /// they go to the client's thread, where `completion` runs.
    public func start(
        _ request: FanOutRequest, servers: [ServerInfo], selfID: String?, correlationID: String, token: Secret?,
        on reactor: (any Reactor)? = nil, completion: @escaping @Sendable (FanOutResult) -> Void
    ) {
        let targets = servers.filter { request.includeSelf || $0.id != selfID }
        let requests = Self.requests(request, targets, Self.headers(request, correlationID, token))
        let done: @Sendable ([Result<ClientResponse, ClientError>]) -> Void = { results in
            completion(FanOutResult(servers: targets, outcomes: results.map(Self.outcome)))
        }
        guard let reactor else {
            client.execute(batch: requests, concurrency: settings.concurrency, completion: done)
            return
        }
        // Made once per loop, on the loop's thread.
        let engine = CurlEngine.attached(to: reactor, key: ObjectIdentifier(engineKey), configuration: clientConfiguration)
        engine.startBatch(requests, concurrency: settings.concurrency, id: engine.makeID(), completion: done)
    }

    /// The request's headers, plus the correlation id and, when the caller sent none, `token`.
    static func headers(_ request: FanOutRequest, _ correlationID: String, _ token: Secret?) -> [(String, String)] {
        var headers = request.headers
        headers.append(("x-correlation-id", correlationID))
        if let token, !request.hasAuthorization { headers.append(("Authorization", "Bearer \(token.value)")) }
        return headers
    }

    static func outcome(_ result: Result<ClientResponse, ClientError>) -> FanOutResult.Outcome {
        switch result {
        case .success(let r): .answered(r)
        case .failure(let e): .failed(code: e.label, message: e.message)
        }
    }

    /// The cluster token for a fan-out if it is at hand without waiting (`.some(nil)`: none
    /// configured); nil when it must be fetched.
    func tokenIfReady(_ request: FanOutRequest) -> Secret?? {
        guard let tokens else { return .some(nil) }
        return tokens.tokenIfReady(cluster: true, parameters: request.tokenParameters)
    }

    static func requests(_ request: FanOutRequest, _ targets: [ServerInfo], _ headers: [(String, String)]) -> [ClientRequest] {
        targets.map { node in
            let base = node.url.hasSuffix("/") ? String(node.url.dropLast()) : node.url
            return ClientRequest(method: request.method, url: base + request.path, headers: headers, body: request.body, timeout: request.timeout)
        }
    }

    /// Runs `request` on `servers` (in cluster order; `selfID` dropped unless `includeSelf`).
    /// All nodes go to the client in one batch; retryable failures go again, after a backoff.
    public func run(_ request: FanOutRequest, servers: [ServerInfo], selfID: String?, correlationID: String) async throws(Unavailable) -> FanOutResult {
        let targets = servers.filter { request.includeSelf || $0.id != selfID }
        var token: Secret?
        if !request.hasAuthorization, let tokens {
            do {
                token = try await tokens.token(cluster: true, parameters: request.tokenParameters)
            } catch {
                throw Unavailable(message: "no cluster token: \(error.label)")
            }
        }
        let requests = Self.requests(request, targets, Self.headers(request, correlationID, token))
        var outcomes = [FanOutResult.Outcome](repeating: .failed(code: "cancelled", message: "not sent"), count: targets.count)
        var pending = Array(targets.indices)
        var attempt = 0
        while !pending.isEmpty {
            let results = await client.execute(batch: pending.map { requests[$0] }, concurrency: settings.concurrency)
            var again: [Int] = []
            for (k, result) in zip(pending, results) {
                outcomes[k] = Self.outcome(result)
                switch result {
                case .success(let r): if [502, 503, 504].contains(r.status) { again.append(k) }
                case .failure(let e): if ["connect", "timeout", "io"].contains(e.label) { again.append(k) }
                }
            }
            guard request.retryable, attempt < request.retries, !again.isEmpty, !Task.isCancelled else { break }
            attempt += 1
            try? await Task.sleep(for: .milliseconds(min(1000, 50 << (attempt - 1))))
            pending = again
        }
        return FanOutResult(servers: targets, outcomes: outcomes)
    }
}

/// The lifecycle's peer calls: POST /itResources after a registration, DELETE /servers/{id}
/// before leaving; each peer's cluster URL, a cluster token, failures reported.
public struct Announcer: Sendable {
    let client: CurlClient
    let tokens: TokenProvider?
    let timeout: Double

    public init(client: CurlClient, tokens: TokenProvider?, timeout: Double = 5) {
        self.client = client
        self.tokens = tokens
        self.timeout = timeout
    }

    public func announce(_ me: ServerInfo, to peers: [ServerInfo]) async -> [MembershipReport.Failure] {
        await each(peers, "POST", "/itResources", JSONCoding.encode(me))
    }

    public func leave(_ me: ServerInfo, to peers: [ServerInfo]) async -> [MembershipReport.Failure] {
        await each(peers, "DELETE", "/servers/\(FormEncoding.escape(me.id))", nil)
    }

    private func each(_ peers: [ServerInfo], _ method: String, _ path: String, _ body: [UInt8]?) async -> [MembershipReport.Failure] {
        guard !peers.isEmpty else { return [] }
        var headers: [(String, String)] = body == nil ? [] : [("Content-Type", "application/json")]
        do {
            if let token = try await tokens?.token(cluster: true) { headers.append(("Authorization", "Bearer \(token.value)")) }
        } catch {
            return peers.map { .init(code: error.label, message: "no cluster token", serverId: $0.id) }
        }
        let sendHeaders = headers
        return await withTaskGroup(of: MembershipReport.Failure?.self) { group in
            for peer in peers {
                group.addTask { [client, timeout] in
                    let base = peer.clusterUrl.hasSuffix("/") ? String(peer.clusterUrl.dropLast()) : peer.clusterUrl
                    do throws(ClientError) {
                        let r = try await client.execute(ClientRequest(method: method, url: base + path, headers: sendHeaders, body: body ?? [], timeout: timeout))
                        if (200..<300).contains(r.status) || (method == "DELETE" && r.status == 404) { return nil }
                        return .init(code: "http_status", message: "peer answered \(r.status)", serverId: peer.id)
                    } catch {
                        return .init(code: error.label, message: error.message, serverId: peer.id)
                    }
                }
            }
            var failures: [MembershipReport.Failure] = []
            for await f in group { if let f { failures.append(f) } }
            return failures.sorted { ($0.serverId ?? "") < ($1.serverId ?? "") }
        }
    }
}
