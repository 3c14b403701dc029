import SidecarPosix
import SidecarHTTP
import SidecarClient
import Logging

/// The calls the sidecar makes to mIT, mapped to the state machine's outcomes.
public struct MITClient: Sendable {
    let baseURL: String
    let client: CurlClient
    let tokens: TokenProvider
    let logger: Logger
    let timeout: Double

    public init(baseURL: String, client: CurlClient, tokens: TokenProvider, logger: Logger, timeout: Double = 10) {
        self.baseURL = baseURL
        self.client = client
        self.tokens = tokens
        self.logger = logger
        self.timeout = timeout
    }

    /// What a registration call gave: the outcome, the answer when there was one, an error label.
    struct Registration: Sendable {
        var outcome: RegistrationMachine.Outcome
        var answer: RegisterAnswer?
        var error: String?
    }

    func register(id: String?, me: ServerInfo, cluster: Bool) async -> Registration {
        let body = RegisterBody(id: id, type: me.type, url: me.url, clusterUrl: me.clusterUrl, cluster: cluster, metadata: me.metadata)
        switch await call("POST", "/servers", body: JSONCoding.encode(body)) {
        case .failure(let label):
            return Registration(outcome: .failed, error: label.label)
        case .success(let r):
            guard r.status == 200 || r.status == 201 else {
                logStatus("registration", r.status)
                return Registration(outcome: .failed, error: "mit_status_\(r.status)")
            }
            guard let answer = JSONCoding.decode(RegisterAnswer.self, r.body), !answer.id.isEmpty else {
                logger.error("registration answer malformed", metadata: ["mit.status": "\(r.status)"])
                return Registration(outcome: .failed, error: "mit_answer_malformed")
            }
            return Registration(outcome: .registered(id: answer.id, leaseTime: answer.leaseTime.flatMap { $0 > 0 ? $0 : nil }), answer: answer)
        }
    }

    func lease(id: String) async -> RegistrationMachine.Outcome {
        switch await call("PUT", "/servers/\(FormEncoding.escape(id))/lease", body: []) {
        case .failure: return .failed
        case .success(let r):
            if r.status == 404 { return .notFound }
            guard r.status == 200 || r.status == 204 else {
                logStatus("lease", r.status)
                return .failed
            }
            return .leased(leaseTime: JSONCoding.decode(LeaseAnswer.self, r.body)?.leaseTime.flatMap { $0 > 0 ? $0 : nil })
        }
    }

    /// `DELETE /servers/{id}`: 200, 204 and 404 all mean gone. Returns an error label otherwise.
    func unregister(id: String) async -> String? {
        switch await call("DELETE", "/servers/\(FormEncoding.escape(id))", body: nil) {
        case .failure(let failure): return failure.label
        case .success(let r):
            if [200, 204, 404].contains(r.status) { return nil }
            logStatus("unregistration", r.status)
            return "mit_status_\(r.status)"
        }
    }

    private func call(_ method: String, _ path: String, body: [UInt8]?) async -> Result<ClientResponse, CallFailure> {
        var headers = [("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        do {
            if let token = try await tokens.token() { headers.append(("Authorization", "Bearer \(token.value)")) }
        } catch {
            logger.warning("no token for mIT", metadata: ["error": "\(error)"])
            return .failure(CallFailure(label: error.label))
        }
        do {
            let r = try await client.execute(ClientRequest(method: method, url: baseURL + path, headers: headers, body: body ?? [], timeout: timeout))
            if r.status == 401 { await tokens.invalidate() }
            return .success(r)
        } catch {
            logger.info("mIT unreachable", metadata: ["call": "\(method) \(path.split(separator: "/").first ?? "")", "error": "\(error.label)"])
            return .failure(CallFailure(label: "mit_\(error.label)"))
        }
    }

    struct CallFailure: Error { let label: String }

    /// 5xx, 408 and 429 are passing; any other 4xx is a configuration error, logged loudly.
    private func logStatus(_ what: String, _ status: Int) {
        if status >= 500 || status == 408 || status == 429 {
            logger.warning("\(what) failed", metadata: ["mit.status": "\(status)"])
        } else {
            logger.error("\(what) refused by mIT: check the configuration", metadata: ["mit.status": "\(status)"])
        }
    }
}
