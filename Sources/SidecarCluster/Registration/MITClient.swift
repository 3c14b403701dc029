import Logging
import SidecarClient
import SidecarHTTP

/// Why a call to mIT did not succeed: a closed set, so that `/status`, logs and metrics carry
/// bounded labels and the lifecycle decides on cases, never on strings.
package enum MITFailure: Error, Sendable, Equatable {
    /// No answer: connect, timeout, io, tls...
    case unreachable(ClientError.Code)
    /// No token for the call.
    case token(TokenError.Code)
    /// A passing refusal: 5xx, 408 or 429.
    case unavailable(status: Int)
    /// Any other status: the configuration is wrong (logged loudly).
    case rejected(status: Int)
    /// A 2xx whose body is not the contract's answer.
    case malformedAnswer

    /// A label fit for metrics: `mit_connect`, `mit_unavailable`, `token_rejected`, ...
    package var label: String {
        switch self {
        case .unreachable(let code): "mit_\(code.rawValue)"
        case .token(let code): code.label
        case .unavailable: "mit_unavailable"
        case .rejected: "mit_rejected"
        case .malformedAnswer: "mit_answer_malformed"
        }
    }

    /// One line for logs and reports (may name the status; never a token).
    package var message: String {
        switch self {
        case .unreachable(let code): "mIT unreachable (\(code.rawValue))"
        case .token(let code): "no token for mIT (\(code.label))"
        case .unavailable(let status): "mIT answered \(status)"
        case .rejected(let status): "mIT refused the call with \(status): check the configuration"
        case .malformedAnswer: "mIT's answer is not the contract's"
        }
    }
}

/// The registry calls the registrar makes; `MITClient` makes them over HTTP, tests fake them.
package protocol RegistryCalls: Sendable {
    /// `POST /servers`: our registration (with `id` when we have one).
    func register(id: String?, me: ServerInfo, cluster: Bool) async -> Result<RegisterAnswer, MITFailure>
    /// `PUT /servers/{id}/lease`: `.notFound` when mIT forgot us.
    func lease(id: String) async -> RegistrationMachine.Outcome
    /// `DELETE /servers/{id}`: nil once gone (200, 204 or 404).
    func unregister(id: String) async -> MITFailure?
    /// The registry's URL in use and the moves between its URLs, when it has several.
    var endpoint: (url: String, moves: Int)? { get }
}

extension RegistryCalls {
    package var endpoint: (url: String, moves: Int)? { nil }
}

/// The calls the sidecar makes to mIT over HTTP, mapped to the state machine's outcomes.
package struct MITClient: RegistryCalls {
    /// The registry's URLs: the calls go to the current one, and on to the next on trouble.
    let endpoints: RegistryEndpoints
    let client: CurlClient
    let tokens: TokenProvider
    let logger: Logger
    let timeout: Duration
    /// What went wrong last, so that a failure is logged when it starts or changes, not at each retry.
    private let trouble = Trouble()

    package init(baseURL: String, client: CurlClient, tokens: TokenProvider, logger: Logger, timeout: Duration = .seconds(10)) {
        self.init(endpoints: RegistryEndpoints([baseURL]), client: client, tokens: tokens, logger: logger, timeout: timeout)
    }

    package var endpoint: (url: String, moves: Int)? { (endpoints.current, endpoints.moves) }

    package init(endpoints: RegistryEndpoints, client: CurlClient, tokens: TokenProvider, logger: Logger, timeout: Duration = .seconds(10))
    {
        self.endpoints = endpoints
        self.client = client
        self.tokens = tokens
        self.logger = logger
        self.timeout = timeout
    }

    package func register(id: String?, me: ServerInfo, cluster: Bool) async -> Result<RegisterAnswer, MITFailure> {
        let body = RegisterBody(id: id, type: me.type, url: me.url, clusterUrl: me.clusterUrl, cluster: cluster, metadata: me.metadata)
        switch await call("POST", "/servers", body: JSONCoding.encode(body)) {
        case .failure(let failure):
            return .failure(failure)
        case .success(let r):
            guard r.status == 200 || r.status == 201 else { return .failure(refusal("registration", r.status)) }
            guard let answer = JSONCoding.decode(RegisterAnswer.self, r.body), !answer.id.isEmpty else {
                logger.error("registration answer malformed", metadata: ["mit.status": "\(r.status)"])
                return .failure(.malformedAnswer)
            }
            return .success(answer)
        }
    }

    package func lease(id: String) async -> RegistrationMachine.Outcome {
        switch await call("PUT", "/servers/\(FormEncoding.escape(id))/lease", body: []) {
        case .failure: return .failed
        case .success(let r):
            if r.status == 404 { return .notFound }
            guard r.status == 200 || r.status == 204 else {
                _ = refusal("lease", r.status)
                return .failed
            }
            return .leased(
                leaseTime: JSONCoding.decode(LeaseAnswer.self, r.body)?.leaseTime.flatMap { $0 > 0 ? .seconds(exactly: $0) : nil })
        }
    }

    package func unregister(id: String) async -> MITFailure? {
        switch await call("DELETE", "/servers/\(FormEncoding.escape(id))", body: nil) {
        case .failure(let failure): return failure
        case .success(let r):
            if [200, 204, 404].contains(r.status) { return nil }
            return refusal("unregistration", r.status)
        }
    }

    private func call(_ method: String, _ path: String, body: [UInt8]?) async -> Result<ClientResponse, MITFailure> {
        var headers = [("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        do {
            if let token = try await tokens.token() { headers.append(("Authorization", "Bearer \(token.value)")) }
        } catch {
            note("no token for mIT: \(error.code.rawValue)", metadata: ["error": "\(error)"])
            return .failure(.token(error.code))
        }
        var last: Result<ClientResponse, MITFailure> = .failure(.unreachable(.connect))
        let order = endpoints.inTurn()
        for (k, (index, baseURL)) in order.enumerated() {
            let request = ClientRequest(method: method, url: baseURL + path, headers: headers, body: body ?? [], timeout: timeout)
            let isLast = k == order.count - 1
            do {
                let r = try await client.execute(request)
                if r.status >= 500 && !isLast {
                    note(
                        "mIT at \(baseURL) answered \(r.status): the next URL",
                        metadata: ["mit.url": "\(baseURL)", "mit.status": "\(r.status)"])
                    last = .success(r)
                    continue
                }
                if r.status == 401 { await tokens.invalidate() }
                if endpoints.settle(on: index) { logger.notice("mIT: now at \(baseURL)", metadata: ["mit.url": "\(baseURL)"]) }
                if (200..<300).contains(r.status) || r.status == 404, let was = trouble.clear() {
                    logger.info("mIT answers again", metadata: ["mit.url": "\(baseURL)", "was": "\(was)"])
                }
                return .success(r)
            } catch {
                note(
                    "mIT unreachable: \(error.label)",
                    metadata: [
                        "mit.url": "\(baseURL + path)", "call": "\(method)", "error": "\(error.label)", "reason": "\(error.message)",
                    ])
                last = .failure(.unreachable(error.code))
                if !RegistryEndpoints.movesOn(error.code) { return last }
            }
        }
        return last
    }

    /// Logs `what` at warning when it is new (the first failure, or another than the last),
    /// at debug when it repeats: one line per change, not one per retry.
    private func note(_ what: String, level: Logger.Level = .warning, metadata: Logger.Metadata) {
        logger.log(level: trouble.changed(to: what) ? level : .debug, "\(what)", metadata: metadata)
    }

    /// 5xx, 408 and 429 are passing; any other status is a configuration error, logged loudly.
    private func refusal(_ what: String, _ status: Int) -> MITFailure {
        if status >= 500 || status == 408 || status == 429 {
            note("\(what) failed: mIT answered \(status)", metadata: ["mit.url": "\(endpoints.current)", "mit.status": "\(status)"])
            return .unavailable(status: status)
        }
        note(
            "\(what) refused by mIT (\(status)): check the configuration", level: .error,
            metadata: ["mit.url": "\(endpoints.current)", "mit.status": "\(status)"])
        return .rejected(status: status)
    }
}
