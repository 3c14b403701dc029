import SidecarClient
import SidecarHTTP
import SidecarPosix
import SidecarSettings
import Synchronization

/// Why no token could be had. Never carries a secret or a token.
package struct TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as a closed set.
    package enum Code: String, Sendable, Equatable, CaseIterable {
        case unreachable, rejected, malformed

        /// `token_unreachable`, `token_rejected`, `token_malformed`: fit for metrics.
        package var label: String { "token_" + rawValue }
    }

    package let code: Code
    /// One line for logs (the status or the client's failure; never a secret).
    package let message: String
    package var label: String { code.label }
    package var description: String { "\(label): \(message)" }

    /// The next token URL may do better (this one could not be reached, timed out, or answered 5xx).
    var movesOn = false

    static func unreachable(_ e: ClientError) -> TokenError {
        TokenError(code: .unreachable, message: "token endpoint: \(e.label)", movesOn: RegistryEndpoints.movesOn(e.code))
    }
    static func rejected(_ status: Int) -> TokenError {
        TokenError(code: .rejected, message: "token endpoint answered \(status)", movesOn: status >= 500)
    }
    static let malformed = TokenError(code: .malformed, message: "token endpoint answer has no access_token")
}

/// Bearer tokens for outbound calls: a static `MIT_TOKEN`, or the OAuth client-credentials grant.
///
/// Each token (plain or cluster, per parameter set) is cached until shortly before its
/// `expires_in`; concurrent callers of an expired token share one refresh.
package actor TokenProvider {
    /// Where tokens come from.
    package enum Source: Sendable {
        case none
        case fixed(Secret)
        /// The grant at the first of `urls` that answers (on to the next when one cannot be
        /// reached, times out or answers 5xx).
        case clientCredentials(urls: [String], clientID: String, secret: Secret)
    }

    private struct Cached: Sendable {
        var token: Secret
        var refreshAt: MonotonicInstant
    }

    /// Replaced by `replaceSource(_:)`; readable without awaiting the actor.
    private nonisolated let sourceSlot: Mutex<Source>
    private nonisolated var source: Source { sourceSlot.withLock { $0 } }
    private let client: CurlClient
    private let clock: any SidecarClock
    private var cache: [String: Cached] = [:]
    private var refreshing: [String: Task<Result<Cached, TokenError>, Never>] = [:]
    /// A copy of the cache readable without awaiting the actor (the fan-out's fast path).
    private nonisolated let ready = Mutex<[String: Cached]>([:])

    /// - Parameter clock: when tokens are due for a refresh (a manual clock in tests).
    package init(source: Source, client: CurlClient, clock: any SidecarClock = SystemClock()) {
        sourceSlot = Mutex(source)
        self.client = client
        self.clock = clock
    }

    /// The token when it can be had without waiting: `.some(nil)` when none is configured,
    /// `.some(token)` when static or cached and fresh, nil when `token()` must refresh it.
    package nonisolated func tokenIfReady(cluster: Bool = false, parameters: [String: String] = [:]) -> Secret?? {
        switch source {
        case .none: return .some(nil)
        case .fixed(let s): return .some(s)
        case .clientCredentials:
            let key = Self.key(cluster: cluster, parameters: parameters)
            let t = clock.now
            return ready.withLock { cache in cache[key].flatMap { t < $0.refreshAt ? .some($0.token) : nil } }
        }
    }

    private static func key(cluster: Bool, parameters: [String: String]) -> String {
        var form = parameters
        if cluster { form["cluster"] = "true" }
        return form.keys.sorted().map { "\($0)=\(form[$0]!)" }.joined(separator: "&")
    }

    /// A token for mIT (or a cluster token with `cluster: true`); nil when none is configured.
    package func token(cluster: Bool = false, parameters: [String: String] = [:]) async throws(TokenError) -> Secret? {
        switch source {
        case .none: return nil
        case .fixed(let s): return s
        case .clientCredentials(let urls, let id, let secret):
            var form = parameters
            if cluster { form["cluster"] = "true" }
            let key = Self.key(cluster: cluster, parameters: parameters)
            if let c = cache[key], clock.now < c.refreshAt { return c.token }
            let task: Task<Result<Cached, TokenError>, Never>
            if let running = refreshing[key] {
                task = running
            } else {
                let (client, clock) = (client, clock)
                task = Task { await Self.fetch(client: client, urls: urls, clientID: id, secret: secret, extra: form, clock: clock) }
                refreshing[key] = task
            }
            let began = generation
            let result = await task.value
            guard began == generation else { return try result.get().token }
            refreshing[key] = nil
            let fresh = try result.get()
            cache[key] = fresh
            ready.withLock { $0[key] = fresh }
            return fresh.token
        }
    }

    /// Takes tokens from `source` from now on (a settings refresh), dropping every cached one.
    package func replaceSource(_ source: Source) {
        sourceSlot.withLock { $0 = source }
        generation += 1
        refreshing.removeAll()
        invalidate()
    }

    /// Bumped by each new source: a refresh begun before it does not fill the cache after it.
    private var generation = 0

    /// Drops every cached token (after a 401, say).
    package func invalidate() {
        cache.removeAll()
        ready.withLock { $0.removeAll() }
    }

    private static func fetch(
        client: CurlClient, urls: [String], clientID: String, secret: Secret, extra: [String: String], clock: any SidecarClock
    ) async -> Result<Cached, TokenError> {
        var last = Result<Cached, TokenError>.failure(.malformed)
        for (k, url) in urls.enumerated() {
            last = await fetch(client: client, url: url, clientID: clientID, secret: secret, extra: extra, clock: clock)
            guard k < urls.count - 1, case .failure(let error) = last, error.movesOn else { return last }
        }
        return last
    }

    private static func fetch(
        client: CurlClient, url: String, clientID: String, secret: Secret, extra: [String: String], clock: any SidecarClock
    ) async -> Result<Cached, TokenError> {
        var form = [("grant_type", "client_credentials"), ("client_id", clientID), ("client_secret", secret.value)]
        for k in extra.keys.sorted() { form.append((k, extra[k]!)) }
        let body = form.map { "\(FormEncoding.escape($0.0))=\(FormEncoding.escape($0.1))" }.joined(separator: "&")
        let started = clock.now
        let response: ClientResponse
        do {
            response = try await client.execute(
                ClientRequest(
                    method: "POST", url: url,
                    headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
                    body: Array(body.utf8)))
        } catch {
            return .failure(.unreachable(error))
        }
        guard (200..<300).contains(response.status) else { return .failure(.rejected(response.status)) }
        struct Answer: Decodable {
            var access_token: String
            var expires_in: Double?
        }
        guard let answer = JSONCoding.decode(Answer.self, response.body), !answer.access_token.isEmpty else {
            return .failure(.malformed)
        }
        let lifetime = answer.expires_in ?? 300
        // Refresh at 90 % of the lifetime, and at least 5 s before expiry.
        let refreshAt = started + .seconds(exactly: max(0, min(lifetime * 0.9, lifetime - 5)))
        return .success(Cached(token: Secret(answer.access_token), refreshAt: refreshAt))
    }
}

/// application/x-www-form-urlencoded escaping.
package enum FormEncoding {
    /// Escapes everything but unreserved characters (space as %20, which every server accepts).
    package static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    /// Parses `a=1&b=2` (percent-decoding, '+' as space).
    package static func parse(_ s: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in s.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[unescape(String(kv[0]))] = kv.count > 1 ? unescape(String(kv[1])) : ""
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if b == UInt8(ascii: "%"), it.count >= 2, let h = ByteClass.hexValue(it[it.startIndex]),
                let l = ByteClass.hexValue(it[it.startIndex + 1])
            {
                bytes.append(h << 4 | l)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
