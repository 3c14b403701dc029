/// The aggregate a fan-out answers with (contract §7): payloads, results and failures in
/// cluster order.
public struct FanOutAnswer: Sendable, Encodable {
    public struct Node: Sendable, Encodable, Equatable {
        public var id: String
        public var url: String
    }

    public struct Success: Sendable, Encodable {
        public var status: Int
        public var headers: [String: String]
        public var data: JSONValue
        public var durationMs: Double
    }

    public struct Failure: Sendable, Encodable {
        public var code: String
        public var message: String
        public var status: Int?
        public var data: JSONValue?
    }

    public struct ResultEntry: Sendable, Encodable {
        public var result: Success
        public var server: Node
    }

    public struct FailureEntry: Sendable, Encodable {
        public var error: Failure
        public var server: Node
    }

    public var data: [JSONValue]
    public var results: [ResultEntry]
    public var failures: [FailureEntry]
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
    let client: CurlClient
    let tokens: TokenProvider?

    /// A fan-out engine with its own client (whose answer cap is `settings.maxResponseBytes`).
    public init(settings: Settings, tokens: TokenProvider?, connectTimeout: Double = 5) {
        self.settings = settings
        self.tokens = tokens
        client = CurlClient(configuration: ClientConfiguration(
            connectTimeout: connectTimeout, requestTimeout: settings.timeout, maxResponseBytes: settings.maxResponseBytes,
            maxConnections: 1024, maxConnectionsPerHost: 8))
    }

    /// Why a fan-out could not start (the caller answers 502).
    public struct Unavailable: Error, Sendable {
        public let message: String
    }

    /// Runs `request` on `servers` (in cluster order; `selfID` dropped unless `includeSelf`).
    public func run(_ request: FanOutRequest, servers: [ServerInfo], selfID: String?, correlationID: String) async throws(Unavailable) -> FanOutAnswer {
        let targets = servers.filter { request.includeSelf || $0.id != selfID }
        var headers = request.headers
        headers.append(("x-correlation-id", correlationID))
        if !headers.contains(where: { $0.0.lowercased() == "authorization" }), let tokens {
            do {
                if let token = try await tokens.token(cluster: true, parameters: request.tokenParameters) {
                    headers.append(("Authorization", "Bearer \(token.value)"))
                }
            } catch {
                throw Unavailable(message: "no cluster token: \(error.label)")
            }
        }
        let sendHeaders = headers
        var outcomes = [NodeOutcome?](repeating: nil, count: targets.count)
        await withTaskGroup(of: (Int, NodeOutcome).self) { group in
            var next = 0
            func launch() {
                let k = next
                next += 1
                let node = targets[k]
                group.addTask { (k, await call(node, request, sendHeaders)) }
            }
            while next < min(settings.concurrency, targets.count) { launch() }
            for await (k, outcome) in group {
                outcomes[k] = outcome
                if next < targets.count { launch() }
            }
        }
        var answer = FanOutAnswer(data: [], results: [], failures: [])
        for (k, outcome) in outcomes.enumerated() {
            let node = FanOutAnswer.Node(id: targets[k].id, url: targets[k].url)
            switch outcome! {
            case .success(let s):
                answer.data.append(s.data)
                answer.results.append(.init(result: s, server: node))
            case .failure(let f):
                answer.failures.append(.init(error: f, server: node))
            }
        }
        return answer
    }

    enum NodeOutcome: Sendable {
        case success(FanOutAnswer.Success)
        case failure(FanOutAnswer.Failure)
    }

    private func call(_ node: ServerInfo, _ request: FanOutRequest, _ headers: [(String, String)]) async -> NodeOutcome {
        let base = node.url.hasSuffix("/") ? String(node.url.dropLast()) : node.url
        let outbound = ClientRequest(method: request.method, url: base + request.path, headers: headers, body: request.body, timeout: request.timeout)
        var attempt = 0
        while true {
            let outcome: NodeOutcome
            var retryable = false
            do {
                let r = try await client.execute(outbound)
                let data = Self.payload(r)
                if (200..<300).contains(r.status) {
                    var fields: [String: String] = [:]
                    for f in r.headers {
                        let name = f.name.lowercased()
                        fields[name] = fields[name].map { "\($0), \(f.value)" } ?? f.value
                    }
                    outcome = .success(.init(status: r.status, headers: fields, data: data, durationMs: (r.duration * 1_000_000).rounded() / 1000))
                } else {
                    outcome = .failure(.init(code: "http_status", message: "node answered \(r.status)", status: r.status, data: data))
                    retryable = [502, 503, 504].contains(r.status)
                }
            } catch {
                outcome = .failure(.init(code: error.label, message: error.message, status: nil, data: nil))
                retryable = ["connect", "timeout", "io"].contains(error.label)
            }
            guard retryable, request.retryable, attempt < request.retries, !Task.isCancelled else { return outcome }
            attempt += 1
            try? await Task.sleep(for: .milliseconds(min(1000, 50 << (attempt - 1))))
        }
    }

    /// The node's body: parsed JSON when it said JSON, else text; null when empty.
    static func payload(_ r: ClientResponse) -> JSONValue {
        if r.body.isEmpty { return .null }
        if let type = r.headers["content-type"]?.lowercased(), type.contains("json"), let v = JSONValue.parse(r.body) { return v }
        return .string(String(decoding: r.body, as: UTF8.self))
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
