import SidecarClient
import SidecarHTTP
import SidecarPosix

/// What a fan-out gathered: every node, in cluster order, with its answer or its failure.
/// `json()` writes the contract's aggregate (§7) without building a tree: a node's JSON answer
/// is checked and spliced in as it came.
package struct FanOutResult: Sendable {
    /// One node's outcome.
    package enum Outcome: Sendable {
        case answered(ClientResponse)
        /// No answer: the client's typed failure (its label is the aggregate's `code`).
        case failed(ClientError)
    }

    package var servers: [ServerInfo]
    package var outcomes: [Outcome]

    /// Whether a node answered 2xx.
    static func succeeded(_ o: Outcome) -> Bool {
        if case .answered(let r) = o { return (200..<300).contains(r.status) }
        return false
    }

    /// `{"data": [...], "results": [...], "failures": [...]}`, and `"hint"` when given (why
    /// there was no node).
    package func json(hint: String? = nil) -> [UInt8] {
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(outcomes.count)
        var room = 256 + outcomes.count * 256
        for o in outcomes {
            guard case .answered(let r) = o else { continue }
            if (200..<300).contains(r.status) {
                payloads.append(Self.payload(r))
                room += 2 * payloads[payloads.count - 1].count
            } else {
                room += r.body.count
            }
            for f in r.headers.storage { room += f.name.utf8.count + f.value.utf8.count + 8 }
        }
        // Room for the whole aggregate at once: a large one is never copied as it grows.
        var w = JSONWriter(capacity: room)
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
            Self.result(r, payload: payloads[p], servers, k, &w)
            p += 1
        }
        w.raw("],\"failures\":[")
        first = true
        for (k, o) in outcomes.enumerated() where !Self.succeeded(o) {
            if !first { w.raw(",") }
            first = false
            Self.failure(o, servers, k, &w)
        }
        w.raw("]")
        Self.hint(hint, &w)
        w.raw("}")
        return w.bytes
    }

    /// `,"hint": "..."` when there is one.
    private static func hint(_ hint: String?, _ w: inout JSONWriter) {
        guard let hint else { return }
        w.raw(",\"hint\":")
        w.string(hint)
    }

    /// One node's line of a streamed answer (`application/x-ndjson`): its entry of `results`
    /// or of `failures`, as the aggregate writes it, and a newline. The node is `servers[k]`.
    static func line(_ outcome: Outcome, _ servers: [ServerInfo], _ k: Int) -> [UInt8] {
        var w: JSONWriter
        if case .answered(let r) = outcome, (200..<300).contains(r.status) {
            let payload = payload(r)
            w = JSONWriter(capacity: 192 + 2 * payload.count)
            result(r, payload: payload, servers, k, &w)
        } else {
            w = JSONWriter(capacity: 256)
            failure(outcome, servers, k, &w)
        }
        w.raw("\n")
        return w.bytes
    }

    /// The closing line of a streamed answer: how many nodes, answers and failures.
    static func closingLine(nodes: Int, results: Int, hint: String? = nil) -> [UInt8] {
        var w = JSONWriter(capacity: 80 + (hint?.utf8.count ?? 0))
        w.raw("{\"counts\":{\"nodes\":")
        w.int(nodes)
        w.raw(",\"results\":")
        w.int(results)
        w.raw(",\"failures\":")
        w.int(nodes - results)
        w.raw("}")
        Self.hint(hint, &w)
        w.raw("}\n")
        return w.bytes
    }

    // The node is passed as its array and index: a `ServerInfo` passed on its own is copied
    // (a retain and a release for each of its fields), and the aggregate writes one per node.

    /// `{"result": {"status", "headers", "data", "durationMs"}, "server": {...}}`.
    private static func result(_ r: ClientResponse, payload: [UInt8], _ servers: [ServerInfo], _ k: Int, _ w: inout JSONWriter) {
        w.raw("{\"result\":{\"status\":")
        w.int(r.status)
        w.raw(",\"headers\":")
        headers(r.headers, &w)
        w.raw(",\"data\":")
        w.raw(payload)
        w.raw(",\"durationMs\":")
        w.milliseconds(Double(r.duration.nanoseconds) / 1e6)
        w.raw("},\"server\":")
        node(servers, k, &w)
        w.raw("}")
    }

    /// `{"error": {"code", "message", "status"?, "data"?}, "server": {...}}`.
    private static func failure(_ o: Outcome, _ servers: [ServerInfo], _ k: Int, _ w: inout JSONWriter) {
        w.raw("{\"error\":{\"code\":")
        switch o {
        case .answered(let r):
            w.string("http_status")
            w.raw(",\"message\":")
            w.string("node answered \(r.status)")
            w.raw(",\"status\":")
            w.int(r.status)
            w.raw(",\"data\":")
            w.raw(payload(r))
        case .failed(let error):
            w.string(error.label)
            w.raw(",\"message\":")
            w.string(error.message)
        }
        w.raw("},\"server\":")
        node(servers, k, &w)
        w.raw("}")
    }

    private static func node(_ servers: [ServerInfo], _ k: Int, _ w: inout JSONWriter) {
        w.raw("{\"id\":")
        w.string(servers[k].id)
        w.raw(",\"url\":")
        w.string(servers[k].url)
        w.raw("}")
    }

    /// Header names in lower case; a repeated field's values joined with ", ", at the place of
    /// its first occurrence. Linear in the fields: up to `smallHead` fields (the usual answer)
    /// they are compared in place, without lower-cased copies; beyond it a name seen before is
    /// found by hashing.
    static func headers(_ fields: HTTPFields, _ w: inout JSONWriter) {
        let all = fields.storage
        guard all.count > smallHead else {
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
            return
        }
        var order: [(name: String, value: String)] = []
        order.reserveCapacity(fields.count)
        var index: [String: Int] = [:]
        for f in all {
            let lower = f.name.lowercased()
            if let k = index[lower] {
                order[k].value += ", " + f.value
            } else {
                index[lower] = order.count
                order.append((lower, f.value))
            }
        }
        w.raw("{")
        for (k, f) in order.enumerated() {
            if k > 0 { w.raw(",") }
            w.string(f.name)
            w.raw(":")
            w.string(f.value)
        }
        w.raw("}")
    }

    /// At most this many fields are merged by comparing pairs (at most 120 comparisons).
    static let smallHead = 16

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
        for i in 0...(u.count - 4)
        where u[i] | 0x20 == 0x6A && u[i + 1] | 0x20 == 0x73 && u[i + 2] | 0x20 == 0x6F && u[i + 3] | 0x20 == 0x6E {
            return true
        }
        return false
    }
}
