/// Why an answer could not be read: the fan-out's `bad_response`, `too_large` and `io`.
package struct ResponseParseError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        /// Not a well-formed or not an unambiguous HTTP/1.x answer.
        case malformed
        /// The head or the body is over its limit.
        case tooLarge
        /// The connection ended before the answer did.
        case truncated
    }

    package let kind: Kind
    /// What was wrong, for logs and the aggregate (never holds the answer's bytes).
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}

/// Reads one HTTP/1.x answer (RFC 9112), pure and incremental like the request parser: feed it
/// whatever bytes arrived, in any split; it says how many it used and when the answer is whole.
///
/// Strict where a lenient reading could be wrong: the head must end with CRLF lines, the status
/// be three digits within 100–599, field names tokens and values field-value bytes (no
/// obs-fold); `Content-Length` must be digits, agreeing when repeated; `Transfer-Encoding` must
/// be exactly `chunked` and never come with `Content-Length` or in HTTP/1.0. 1xx interim answers
/// are skipped, 101 refused (nothing asks to switch protocols). HEAD answers and 204/304 have no
/// body; an answer with neither length nor chunked runs until the connection closes (`end()`).
package struct HTTPResponseParser: Sendable {
    private enum Phase: Sendable {
        case head
        case body
        case untilClose
        case done
    }

    private let isHead: Bool
    private let maxHeadBytes: Int
    private let maxBodyBytes: Int
    private let maxFields: Int
    private var phase = Phase.head
    private var headBytes: [UInt8] = []
    private var scanFrom = 0
    private var decoder = BodyDecoder(framing: .none, maxBodyBytes: 0)
    /// Whether any byte of an answer arrived (a kept-alive connection that closes before one
    /// did may be tried again).
    package private(set) var receivedAny = false
    /// The final status (after interim ones).
    package private(set) var status = 0
    /// The final answer's fields, names as sent.
    package private(set) var fields = HTTPFields()
    /// The body so far (whole once `isComplete`).
    package private(set) var body: [UInt8] = []
    /// Whether the connection may carry another request after this answer.
    package private(set) var keepAlive = false

    /// A parser for the answer to one request; `isHead` for a HEAD request (no body follows).
    package init(isHead: Bool, maxBodyBytes: Int, maxHeadBytes: Int = 65536, maxFields: Int = 100) {
        self.isHead = isHead
        self.maxBodyBytes = maxBodyBytes
        self.maxHeadBytes = maxHeadBytes
        self.maxFields = maxFields
    }

    /// Whether the whole answer has been read.
    package var isComplete: Bool { if case .done = phase { true } else { false } }

    /// Consumes bytes of `input`; returns how many it used (fewer than given only once the answer
    /// is complete: the rest is not part of it).
    package mutating func feed(_ input: UnsafeRawBufferPointer) throws(ResponseParseError) -> Int {
        if !input.isEmpty { receivedAny = true }
        var used = 0
        while used < input.count {
            switch phase {
            case .done:
                return used
            case .head:
                used += try gatherHead(UnsafeRawBufferPointer(rebasing: input[used...]))
            case .body:
                do {
                    used += try decoder.decode(UnsafeRawBufferPointer(rebasing: input[used...]), into: &body)
                } catch {
                    throw Self.bodyError(error)
                }
                if decoder.isComplete { phase = .done }
            case .untilClose:
                let n = input.count - used
                guard body.count + n <= maxBodyBytes else { throw ResponseParseError(.tooLarge, "answer body over the limit") }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[used...]))
                used = input.count
            }
        }
        return used
    }

    /// The connection ended: completes an answer delimited by the close, or says what is missing.
    package mutating func end() throws(ResponseParseError) {
        switch phase {
        case .done: return
        case .untilClose: phase = .done
        case .head where !receivedAny: throw ResponseParseError(.truncated, "connection closed before any answer")
        case .head: throw ResponseParseError(.truncated, "connection closed in the answer's head")
        case .body: throw ResponseParseError(.truncated, "connection closed in the answer's body")
        }
    }

    private static func bodyError(_ error: HTTPParseError) -> ResponseParseError {
        switch error {
        case .bodyTooLarge: ResponseParseError(.tooLarge, "answer body over the limit")
        case .headersTooLarge, .tooManyHeaders: ResponseParseError(.tooLarge, "answer trailer over the limit")
        case .badTrailer: ResponseParseError(.malformed, "malformed trailer field")
        default: ResponseParseError(.malformed, "malformed chunked body")
        }
    }

    /// Collects head bytes up to the empty line, then reads the head.
    private mutating func gatherHead(_ input: UnsafeRawBufferPointer) throws(ResponseParseError) -> Int {
        let before = headBytes.count
        // Only as much as can belong to the head: the rest stays for the body.
        let take = min(input.count, maxHeadBytes + 1 - before)
        headBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[..<take]))
        var i = max(scanFrom, 3)
        let n = headBytes.count
        let end: Int? = headBytes.withUnsafeBufferPointer { h in
            while i < n {
                if h[i] == 0x0A && h[i - 1] == 0x0D && h[i - 2] == 0x0A && h[i - 3] == 0x0D { return i + 1 }
                i += 1
            }
            return nil
        }
        guard let end else {
            if n > maxHeadBytes { throw ResponseParseError(.tooLarge, "answer head over \(maxHeadBytes) bytes") }
            scanFrom = n
            return take
        }
        let used = end - before
        try readHead(end)
        headBytes.removeAll(keepingCapacity: true)
        scanFrom = 0
        return used
    }

    /// Reads the head in `headBytes[..<end]` (which ends with CRLF CRLF).
    private mutating func readHead(_ end: Int) throws(ResponseParseError) {
        let h = headBytes
        func bad(_ m: String) -> ResponseParseError { ResponseParseError(.malformed, m) }
        // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF
        guard end >= 16, h[0] == 0x48, h[1] == 0x54, h[2] == 0x54, h[3] == 0x50, h[4] == 0x2F, h[5] == 0x31, h[6] == 0x2E,
            h[7] == 0x30 || h[7] == 0x31, h[8] == 0x20
        else { throw bad("malformed status line") }
        let http11 = h[7] == 0x31
        var code = 0
        for k in 9..<12 {
            guard h[k] >= 0x30 && h[k] <= 0x39 else { throw bad("malformed status code") }
            code = code * 10 + Int(h[k] - 0x30)
        }
        guard code >= 100 && code <= 599 else { throw bad("status \(code) outside 100-599") }
        var i = 12
        if h[i] == 0x20 {
            i += 1
            while h[i] != 0x0D {
                guard ByteClass.isFieldValue(h[i]) else { throw bad("malformed reason phrase") }
                i += 1
            }
        }
        guard h[i] == 0x0D, h[i + 1] == 0x0A else { throw bad("malformed status line") }
        i += 2
        if code == 101 { throw bad("unexpected 101 Switching Protocols") }
        var parsed = HTTPFields(reservingCapacity: 8)
        var length: Int?
        var chunked = false
        var sawTransferEncoding = false
        var closeToken = false
        var keepAliveToken = false
        while !(h[i] == 0x0D && h[i + 1] == 0x0A) {
            let nameStart = i
            while ByteClass.isToken(h[i]) { i += 1 }
            guard i > nameStart else { throw bad(h[i] == 0x20 || h[i] == 0x09 ? "obs-fold in the answer's head" : "malformed field name") }
            guard h[i] == 0x3A else { throw bad("malformed field line") }
            let nameEnd = i
            i += 1
            while h[i] == 0x20 || h[i] == 0x09 { i += 1 }
            let valueStart = i
            var valueEnd = i
            while h[i] != 0x0D {
                guard ByteClass.isFieldValue(h[i]) else { throw bad("malformed field value") }
                i += 1
                if h[i - 1] != 0x20 && h[i - 1] != 0x09 { valueEnd = i }
            }
            guard h[i + 1] == 0x0A else { throw bad("malformed field line") }
            i += 2
            guard parsed.count < maxFields else { throw ResponseParseError(.tooLarge, "answer over \(maxFields) fields") }
            let name = h[nameStart..<nameEnd]
            let value = h[valueStart..<valueEnd]
            if Self.equals(name, "content-length") {
                let n = try Self.contentLength(value)
                if let length, length != n { throw bad("conflicting Content-Length values") }
                length = n
            } else if Self.equals(name, "transfer-encoding") {
                guard !sawTransferEncoding, Self.equals(value, "chunked") else { throw bad("Transfer-Encoding other than chunked") }
                sawTransferEncoding = true
                chunked = true
            } else if Self.equals(name, "connection") {
                Self.connectionTokens(value) { token in
                    if RequestHeadParser.equalsLower(token, "close") { closeToken = true }
                    if RequestHeadParser.equalsLower(token, "keep-alive") { keepAliveToken = true }
                }
            }
            parsed.append(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        if code < 200 {
            // Interim: the final answer follows.
            return
        }
        if chunked && length != nil { throw bad("both Content-Length and Transfer-Encoding") }
        if chunked && !http11 { throw bad("Transfer-Encoding in an HTTP/1.0 answer") }
        status = code
        fields = parsed
        // HTTP/1.1 persists unless told to close; HTTP/1.0 only when it says keep-alive.
        var close = closeToken || (!http11 && !keepAliveToken)
        let bodiless = isHead || code == 204 || code == 304
        if bodiless {
            phase = .done
        } else if chunked {
            decoder = BodyDecoder(framing: .chunked, maxBodyBytes: maxBodyBytes)
            phase = .body
        } else if let length {
            guard length <= maxBodyBytes else { throw ResponseParseError(.tooLarge, "answer body over the limit") }
            decoder = BodyDecoder(framing: .length(length), maxBodyBytes: maxBodyBytes)
            phase = length == 0 ? .done : .body
        } else {
            phase = .untilClose
            close = true
        }
        keepAlive = !close
    }

    /// `1*DIGIT`, or a list of equal ones (RFC 9110 §8.6 lets a recipient take `42, 42`); an
    /// empty element is malformed.
    private static func contentLength(_ value: ArraySlice<UInt8>) throws(ResponseParseError) -> Int {
        var result: Int?
        var failure: ResponseParseError?
        value.withUnsafeBytes { raw in
            RequestHeadParser.forEachListElement(raw, includingEmpty: true) { item in
                guard failure == nil else { return }
                guard !item.isEmpty, item.allSatisfy({ RequestHeadParser.isDigit($0) }) else {
                    failure = ResponseParseError(.malformed, "malformed Content-Length")
                    return
                }
                guard item.count <= 15 else {
                    failure = ResponseParseError(.tooLarge, "answer body over the limit")
                    return
                }
                let n = item.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                if let result, result != n { failure = ResponseParseError(.malformed, "conflicting Content-Length values") }
                result = n
            }
        }
        if let failure { throw failure }
        guard let result else { throw ResponseParseError(.malformed, "malformed Content-Length") }
        return result
    }

    /// Calls `body` with each non-empty token of a `Connection` value.
    private static func connectionTokens(_ value: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) -> Void) {
        value.withUnsafeBytes { RequestHeadParser.forEachListElement($0, body) }
    }

    /// ASCII case-insensitive comparison with a lower-case literal (the request parser's).
    private static func equals(_ bytes: ArraySlice<UInt8>, _ lower: StaticString) -> Bool {
        bytes.withUnsafeBytes { RequestHeadParser.equalsLower($0, lower) }
    }
}
