import SidecarClient
import SidecarHTTP
import SidecarPosix

/// One fan-out, checked: what to send to every node. Built from the axios-like body of
/// `POST /cluster/fanout` or from a request on `/cluster/proxy/{path}`; pure.
package struct FanOutRequest: Sendable, Equatable {
    package var method: String
    /// Path and query, appended to each node's `url`. Always a checked path.
    package var path: String
    package var headers: [(String, String)]
    package var body: [UInt8]
    /// Per-node deadline in seconds.
    package var timeout: Duration
    package var retries: Int
    package var includeSelf: Bool
    /// Parameters of the cluster token to attach when the caller sent no Authorization.
    package var tokenParameters: [String: String]
    /// Answer once this many nodes answered 2xx, or once so many can no longer; the requests
    /// still running are cancelled (`quorum`, `x-fanout-quorum`).
    package var quorum: Int? = nil
    /// The whole fan-out's deadline, retries included (`deadline`, `x-fanout-deadline`).
    package var deadline: Duration? = nil

    package static func == (a: FanOutRequest, b: FanOutRequest) -> Bool {
        a.method == b.method && a.path == b.path && a.headers.elementsEqual(b.headers, by: ==) && a.body == b.body
            && a.timeout == b.timeout && a.retries == b.retries && a.includeSelf == b.includeSelf && a.tokenParameters == b.tokenParameters
            && a.quorum == b.quorum && a.deadline == b.deadline
    }

    /// Why a fan-out was refused before anything was sent (400).
    package struct Invalid: Error, Sendable, Equatable {
        package let message: String
    }

    /// What a fan-out may send: every registered method but CONNECT and TRACE (a tunnel and a
    /// loop-back have no meaning across a cluster, and TRACE would echo the cluster token)
    /// and PRI (HTTP/2's preface).
    package static let methods: Set<String> = Set(HTTPMethods.registry.keys).subtracting(["CONNECT", "TRACE", "PRI"])
    /// Hop-by-hop and framing fields never forwarded (RFC 9110 §7.6.1), plus Host.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
        "content-length", "expect", "proxy-authorization", "proxy-authenticate",
    ]
    static let maxTimeout: Duration = .seconds(300)
    static let maxRetries = 5
    static let maxQuorum = 1_000_000

    /// Whether the caller sent its own `Authorization` (then no cluster token is attached).
    package var hasAuthorization: Bool { headers.contains { $0.0.lowercased() == "authorization" } }

    /// Whether retries apply (idempotent methods only).
    package var retryable: Bool { HTTPMethods.isIdempotent(method) }

    /// Checks a path for the contract's rules: one leading `/`; no scheme, authority or `//`;
    /// no backslash, control character, space or fragment; no `.`/`..` segment, also
    /// percent-encoded. Stricter than the contract where RFC 3986 allows no other reading: only
    /// ASCII path characters (unreserved, sub-delims, `:`, `@`) and well-formed escapes; in the
    /// path, no escape of `.` (an unreserved character is never encoded), `/`, `\` or a control.
    /// `openapi.yaml` states the same rule as a pattern.
    package static func checkPath(_ path: String) throws(Invalid) {
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/") else { throw Invalid(message: "url must be a path starting with /") }
        if bytes.count > 1 && bytes[1] == UInt8(ascii: "/") { throw Invalid(message: "url must not start with //") }
        let queryStart = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        var i = 0
        var segment: [UInt8] = []
        var segments: [[UInt8]] = []
        while i < bytes.count {
            let b = bytes[i]
            let inPath = i < queryStart
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let h = ByteClass.hexValue(bytes[i + 1]), let l = ByteClass.hexValue(bytes[i + 2]) else {
                    throw Invalid(message: "url holds a malformed percent-escape")
                }
                let v = h << 4 | l
                if inPath && (v == UInt8(ascii: ".") || v == UInt8(ascii: "/") || v == UInt8(ascii: "\\") || v < 0x20 || v == 0x7F) {
                    throw Invalid(message: "url path must not hold an encoded dot, separator or control character")
                }
                if inPath { segment.append(v) }
                i += 3
                continue
            }
            if b < 0x21 || b >= 0x7F { throw Invalid(message: "url must be ASCII without spaces or control characters") }
            if b == UInt8(ascii: "\\") { throw Invalid(message: "url must not hold a backslash") }
            if b == UInt8(ascii: "#") { throw Invalid(message: "url must not hold a fragment") }
            if !pathCharacters.contains(b) && !(b == UInt8(ascii: "?") && !inPath) && i != queryStart {
                throw Invalid(message: "url holds a character that must be percent-encoded")
            }
            if inPath {
                if b == UInt8(ascii: "/") {
                    if i > 0 { segments.append(segment) }
                    segment = []
                } else {
                    segment.append(b)
                }
            }
            i += 1
        }
        segments.append(segment)
        for (k, s) in segments.enumerated() {
            if s == [0x2E] || s == [0x2E, 0x2E] { throw Invalid(message: "url must not hold a . or .. segment") }
            if s.isEmpty && k < segments.count - 1 { throw Invalid(message: "url path must not hold //") }
        }
    }

    /// RFC 3986 pchar (without escapes) plus `/`: unreserved, sub-delims, `:`, `@`.
    static let pathCharacters: Set<UInt8> = Set(
        Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/".utf8))

    /// Forwardable headers from `fields`: hop-by-hop ones (and those `Connection` names) dropped.
    static func forwardable(_ fields: [(String, String)]) throws(Invalid) -> [(String, String)] {
        var named = hopByHop
        for (name, value) in fields where name.lowercased() == "connection" {
            for token in value.split(separator: ",") { named.insert(String(token.filter { $0 != " " && $0 != "\t" }).lowercased()) }
        }
        var out: [(String, String)] = []
        for (name, value) in fields where !named.contains(name.lowercased()) {
            guard !name.isEmpty, name.utf8.allSatisfy(ByteClass.isToken) else {
                throw Invalid(message: "header name \(JSON.quote(name)) is not a token")
            }
            guard value.utf8.allSatisfy(ByteClass.isFieldValue) else { throw Invalid(message: "header \(name) holds a control character") }
            out.append((name, value))
        }
        return out
    }

    /// Parses the body of `POST /cluster/fanout`.
    package static func parse(body: [UInt8], defaultTimeout: Duration) throws(Invalid) -> FanOutRequest {
        guard case .object(let o)? = JSONValue.parse(body) else { throw Invalid(message: "body must be a JSON object") }
        let known: Set<String> = [
            "method", "url", "headers", "params", "data", "timeout", "retries", "token", "includeSelf", "quorum", "deadline",
        ]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw Invalid(message: "unknown option \(JSON.quote(unknown))")
        }
        var method = "GET"
        if let m = o["method"] {
            guard case .string(let s) = m, methods.contains(s.uppercased()) else {
                throw Invalid(message: "method must be one of \(methods.sorted().joined(separator: ", "))")
            }
            method = s.uppercased()
        }
        guard case .string(let url)? = o["url"] else { throw Invalid(message: "url is required") }
        try checkPath(url)
        var path = url
        if let p = o["params"] {
            guard case .object(let params) = p else { throw Invalid(message: "params must be an object") }
            let pairs = try params.keys.sorted().map { key throws(Invalid) -> String in
                "\(FormEncoding.escape(key))=\(FormEncoding.escape(try scalar(params[key]!, "params.\(key)")))"
            }
            if !pairs.isEmpty { path += (path.contains("?") ? "&" : "?") + pairs.joined(separator: "&") }
        }
        var headers: [(String, String)] = []
        if let h = o["headers"] {
            guard case .object(let given) = h else { throw Invalid(message: "headers must be an object") }
            headers = try forwardable(
                try given.keys.sorted().map { key throws(Invalid) in (key, try scalar(given[key]!, "headers.\(key)")) })
        }
        var body: [UInt8] = []
        if let data = o["data"], data != .null {
            if case .string(let s) = data {
                body = Array(s.utf8)
                if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                    headers.append(("Content-Type", "text/plain; charset=utf-8"))
                }
            } else {
                body = JSONCoding.encode(data)
                if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                    headers.append(("Content-Type", "application/json"))
                }
            }
        }
        var timeout = defaultTimeout
        if let t = o["timeout"] {
            guard case .number(let ms) = t, ms > 0, ms <= maxTimeout.seconds * 1000 else {
                throw Invalid(message: "timeout must be milliseconds above 0 and at most \(Int(maxTimeout.seconds * 1000))")
            }
            timeout = .seconds(exactly: ms / 1000)
        }
        var retries = 0
        if let r = o["retries"] {
            guard case .number(let n) = r, n >= 0, n <= Double(maxRetries), n == n.rounded() else {
                throw Invalid(message: "retries must be a whole number from 0 to \(maxRetries)")
            }
            retries = Int(n)
        }
        var includeSelf = true
        if let i = o["includeSelf"] {
            guard case .bool(let b) = i else { throw Invalid(message: "includeSelf must be true or false") }
            includeSelf = b
        }
        var tokenParameters: [String: String] = [:]
        if let t = o["token"], t != .null {
            guard case .object(let params) = t else { throw Invalid(message: "token must be an object") }
            for (k, v) in params { tokenParameters[k] = try scalar(v, "token.\(k)") }
        }
        var quorum: Int?
        if let q = o["quorum"] {
            guard case .number(let n) = q, n >= 1, n <= Double(maxQuorum), n == n.rounded() else {
                throw Invalid(message: "quorum must be a whole number from 1 to \(maxQuorum)")
            }
            quorum = Int(n)
        }
        var deadline: Duration?
        if let d = o["deadline"] {
            guard case .number(let ms) = d, ms > 0, ms <= maxTimeout.seconds * 1000 else {
                throw Invalid(message: "deadline must be milliseconds above 0 and at most \(Int(maxTimeout.seconds * 1000))")
            }
            deadline = .seconds(exactly: ms / 1000)
        }
        return FanOutRequest(
            method: method, path: path, headers: headers, body: body, timeout: timeout, retries: retries, includeSelf: includeSelf,
            tokenParameters: tokenParameters, quorum: quorum, deadline: deadline)
    }

    /// A request on `/cluster/proxy/{rest}`: same method, path, query, headers and body.
    /// `x-fanout-timeout` (ms), `x-fanout-retries` and `x-fanout-include-self` set the options.
    package static func proxy(_ request: HTTPRequest, rest: String, defaultTimeout: Duration, dropAuthorization: Bool) throws(Invalid)
        -> FanOutRequest
    {
        guard methods.contains(request.method) else { throw Invalid(message: "method not supported for fan-out") }
        var path = "/" + rest
        try checkPath(path)
        if let q = request.query { path += "?" + q }
        try checkPath(path)
        var fields: [(String, String)] = []
        var timeout = defaultTimeout
        var retries = 0
        var includeSelf = true
        var quorum: Int?
        var deadline: Duration?
        for field in request.fields {
            switch field.name.lowercased() {
            case "x-fanout-timeout":
                // Whole milliseconds, digits only (openapi.yaml: integer, 1 to 300000): no `0.5`, no `1e3`.
                let limit = Int(maxTimeout.seconds * 1000)
                guard let ms = digits(field.value), (1...limit).contains(ms) else {
                    throw Invalid(message: "x-fanout-timeout must be whole milliseconds from 1 to \(limit)")
                }
                timeout = .milliseconds(ms)
            case "x-fanout-quorum":
                guard let n = digits(field.value), (1...maxQuorum).contains(n) else {
                    throw Invalid(message: "x-fanout-quorum must be a whole number from 1 to \(maxQuorum)")
                }
                quorum = n
            case "x-fanout-deadline":
                let limit = Int(maxTimeout.seconds * 1000)
                guard let ms = digits(field.value), (1...limit).contains(ms) else {
                    throw Invalid(message: "x-fanout-deadline must be whole milliseconds from 1 to \(limit)")
                }
                deadline = .milliseconds(ms)
            case "x-fanout-retries":
                guard let n = Int(field.value), (0...maxRetries).contains(n) else {
                    throw Invalid(message: "x-fanout-retries must be 0 to \(maxRetries)")
                }
                retries = n
            case "x-fanout-include-self":
                guard field.value == "true" || field.value == "false" else {
                    throw Invalid(message: "x-fanout-include-self must be true or false")
                }
                includeSelf = field.value == "true"
            case "authorization" where dropAuthorization, "x-correlation-id":
                continue
            default:
                fields.append((field.name, field.value))
            }
        }
        return FanOutRequest(
            method: request.method, path: path, headers: try forwardable(fields), body: request.body, timeout: timeout, retries: retries,
            includeSelf: includeSelf, tokenParameters: [:], quorum: quorum, deadline: deadline)
    }

    /// A field value of 1 to 9 digits and nothing else, as a number (openapi.yaml's integers:
    /// no sign, no `0.5`, no `1e3`).
    private static func digits(_ value: String) -> Int? {
        guard !value.isEmpty, value.utf8.count <= 9, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(value)
    }

    private static func scalar(_ v: JSONValue, _ name: String) throws(Invalid) -> String {
        switch v {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        default: throw Invalid(message: "\(name) must be a string, number or boolean")
        }
    }
}
