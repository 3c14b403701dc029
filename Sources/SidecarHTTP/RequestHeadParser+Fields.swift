extension RequestHeadParser {
    /// What the field lines say about framing and connection handling.
    private struct Semantics {
        var hostCount = 0
        var hostValid = true
        var contentLengthCount = 0
        var contentLength: Int?
        var contentLengthValid = true
        var transferEncodingSeen = false
        var transferCodings = 0
        var chunkedCount = 0
        var chunkedLast = false
        var unknownCoding = false
        var transferEncodingValid = true
        var connectionClose = false
        var connectionKeepAlive = false
        var expectContinue = false
        var authorizationCount = 0
    }

    static func parseFields(
        _ buf: UnsafeRawBufferPointer, from start: Int, limits: ParserLimits,
        method: (Int, Int), target: (Int, Int), version: HTTPVersion
    ) -> HeadParseResult {
        let n = buf.count
        var i = start
        var fields = HTTPFields(reservingCapacity: 8)
        var sem = Semantics()

        func incomplete() -> HeadParseResult {
            n - start > limits.maxHeaderBytes ? .failure(.headersTooLarge) : .incomplete
        }

        while true {
            if i - start > limits.maxHeaderBytes { return .failure(.headersTooLarge) }
            guard i < n else { return incomplete() }
            let first = buf[i]
            if first == cr {
                guard i + 1 < n else { return incomplete() }
                guard buf[i + 1] == lf else { return .failure(.badHeader) }
                i += 2
                break
            }
            if first == lf {
                i += 1
                break
            }
            if first == sp || first == htab { return .failure(.obsFold) }

            let nameStart = i
            while i < n, ByteClass.isToken(buf[i]) { i += 1 }
            guard i < n else { return incomplete() }
            guard i > nameStart, buf[i] == UInt8(ascii: ":") else { return .failure(.badHeader) }
            let nameEnd = i
            i += 1
            while i < n, buf[i] == sp || buf[i] == htab { i += 1 }
            let valueStart = i
            while i < n, ByteClass.isFieldValue(buf[i]) { i += 1 }
            guard i < n else { return incomplete() }
            var valueEnd = i
            if buf[i] == cr {
                guard i + 1 < n else { return incomplete() }
                guard buf[i + 1] == lf else { return .failure(.badHeader) }
                i += 2
            } else if buf[i] == lf {
                i += 1
            } else {
                return .failure(.badHeader)
            }
            while valueEnd > valueStart, buf[valueEnd - 1] == sp || buf[valueEnd - 1] == htab { valueEnd -= 1 }
            if i - start > limits.maxHeaderBytes { return .failure(.headersTooLarge) }
            guard fields.count < limits.maxHeaderFields else { return .failure(.tooManyHeaders) }

            let value = UnsafeRawBufferPointer(rebasing: buf[valueStart..<valueEnd])
            classify(name: UnsafeRawBufferPointer(rebasing: buf[nameStart..<nameEnd]), value: value, into: &sem)
            fields.storage.append(.init(name: fieldName(buf, nameStart, nameEnd), value: string(buf, valueStart, valueEnd)))
        }

        let methodString = methodName(buf, method.0, method.1)
        var head = RequestHead(
            method: methodString, path: "/", pathAsSent: nil, query: nil, target: string(buf, target.0, target.1),
            version: version, fields: fields, framing: .none, keepAlive: true, expectsContinue: false)
        if let error = applySemantics(sem, to: &head, limits: limits) { return .failure(error) }
        if let error = splitTarget(buf, target.0, target.1, isOptions: methodString == "OPTIONS", into: &head) {
            return .failure(error)
        }
        // A method outside the IANA registry: 501 (RFC 9110 §9.1), whatever the path.
        guard HTTPMethods.isRegistered(methodString) else { return .failure(.methodNotImplemented) }
        return .complete(head, consumed: i)
    }

    private static func applySemantics(_ sem: Semantics, to head: inout RequestHead, limits: ParserLimits) -> HTTPParseError? {
        if sem.transferEncodingSeen {
            if sem.contentLengthCount > 0 { return .conflictingFraming }
            // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            if head.version == .http10 { return .badTransferEncoding }
            if !sem.transferEncodingValid || sem.transferCodings == 0 { return .badTransferEncoding }
            if sem.unknownCoding { return .unsupportedTransferCoding }
            if sem.chunkedCount != 1 || !sem.chunkedLast { return .badTransferEncoding }
            head.framing = .chunked
        } else if sem.contentLengthCount > 0 {
            guard sem.contentLengthCount == 1, sem.contentLengthValid, let length = sem.contentLength else {
                return .badContentLength
            }
            if length > limits.maxBodyBytes { return .bodyTooLarge }
            head.framing = length == 0 ? .none : .length(length)
        }
        if sem.hostCount > 1 { return .duplicateHost }
        if sem.hostCount == 0 && head.version == .http11 { return .missingHost }
        if !sem.hostValid { return .badHost }
        if sem.authorizationCount > 1 { return .duplicateAuthorization }
        head.expectsContinue = sem.expectContinue && head.version == .http11
        switch head.version {
        case .http11: head.keepAlive = !sem.connectionClose
        case .http10: head.keepAlive = sem.connectionKeepAlive && !sem.connectionClose
        }
        return nil
    }

    /// Reduces the target to path and query; refuses forms we do not serve.
    private static func splitTarget(
        _ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int, isOptions: Bool, into head: inout RequestHead
    ) -> HTTPParseError? {
        let targetEnd = end
        var pathStart = start
        if buf[start] != UInt8(ascii: "/") {
            if end - start == 1 && buf[start] == UInt8(ascii: "*") {
                guard isOptions else { return .badTarget }
                head.path = "*"
                return nil
            }
            // absolute-form: http(s)://authority[/path][?query]
            guard let afterScheme = schemeEnd(buf, start, end) else { return .badTarget }
            var j = afterScheme
            while j < end, buf[j] != UInt8(ascii: "/"), buf[j] != UInt8(ascii: "?") {
                if buf[j] == UInt8(ascii: "@") || !ByteClass.isHost(buf[j]) { return .badTarget }
                j += 1
            }
            guard j > afterScheme else { return .badTarget }
            pathStart = j
        }
        // A fragment is not part of the target (RFC 9112 §3.2); like nginx, drop it.
        var end = end
        var q = pathStart
        var dots = false
        while q < end, buf[q] != UInt8(ascii: "?") {
            if buf[q] == UInt8(ascii: "#") {
                end = q
                break
            } else if buf[q] == UInt8(ascii: "%") {
                guard q + 2 < end, ByteClass.hexValue(buf[q + 1]) != nil, ByteClass.hexValue(buf[q + 2]) != nil else {
                    return .badTarget
                }
                dots = true  // perhaps an escaped dot
            } else if buf[q] == UInt8(ascii: ".") {
                dots = true
            }
            q += 1
        }
        // The usual origin-form target is the path itself: share the target's string.
        head.path = q > pathStart ? (pathStart == start && q == targetEnd ? head.target : string(buf, pathStart, q)) : "/"
        if q < end, let hash = UnsafeRawBufferPointer(rebasing: buf[q..<end]).firstIndex(of: UInt8(ascii: "#")) { end = q + hash }
        head.query = q < end ? string(buf, q + 1, end) : nil
        // Without a dot or an escape, there is no dot segment to remove.
        guard dots else { return nil }
        guard let normalized = DotSegments.remove(head.path) else { return .targetAboveRoot }
        if normalized != head.path {
            head.pathAsSent = head.path
            head.path = normalized
        }
        return nil
    }

    private static func schemeEnd(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        for scheme in ["http://", "https://"] {
            let bytes = Array(scheme.utf8)
            if end - start >= bytes.count,
                (0..<bytes.count).allSatisfy({ (buf[start + $0] | 0x20) == bytes[$0] | 0x20 })
            {
                return start + bytes.count
            }
        }
        return nil
    }

    private static func classify(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, into sem: inout Semantics) {
        switch name.count {
        case 4 where equalsLower(name, "host"):
            sem.hostCount += 1
            if !isValidHost(value) { sem.hostValid = false }
        case 13 where equalsLower(name, "authorization"):
            // A single-value field: a second one could be read by another hop instead of ours.
            sem.authorizationCount += 1
        case 14 where equalsLower(name, "content-length"):
            sem.contentLengthCount += 1
            var length = 0
            if value.isEmpty || value.count > 18 { sem.contentLengthValid = false }
            for b in value {
                guard isDigit(b) else {
                    sem.contentLengthValid = false
                    break
                }
                length = length &* 10 &+ Int(b &- 0x30)
            }
            sem.contentLength = length
        case 17 where equalsLower(name, "transfer-encoding"):
            sem.transferEncodingSeen = true
            forEachListElement(value) { element in
                sem.transferCodings += 1
                if equalsLower(element, "chunked") {
                    sem.chunkedCount += 1
                    sem.chunkedLast = true
                } else {
                    sem.chunkedLast = false
                    if element.allSatisfy({ ByteClass.isToken($0) }) {
                        sem.unknownCoding = true
                    } else {
                        sem.transferEncodingValid = false
                    }
                }
            }
        case 10 where equalsLower(name, "connection"):
            forEachListElement(value) { element in
                if equalsLower(element, "close") { sem.connectionClose = true }
                if equalsLower(element, "keep-alive") { sem.connectionKeepAlive = true }
            }
        case 6 where equalsLower(name, "expect"):
            forEachListElement(value) { element in
                // Other expectations are ignored, as nginx does (RFC 9110 §10.1.1 allows 417 or not).
                if equalsLower(element, "100-continue") { sem.expectContinue = true }
            }
        default:
            break
        }
    }

    /// RFC 9112 §3.2: `Host = uri-host [ ":" port ]`, with uri-host an IP-literal in brackets
    /// or a reg-name (IPv4 included: unreserved, pct-encoded and sub-delims characters) and
    /// port digits only. Refuses `a:xx`, `a:1:2`, `[::1`, an empty value.
    static func isValidHost(_ value: UnsafeRawBufferPointer) -> Bool {
        let n = value.count
        guard n > 0 else { return false }
        var i = 0
        if value[0] == UInt8(ascii: "[") {
            // IP-literal, checked for its characters.
            i = 1
            while i < n, value[i] != UInt8(ascii: "]") {
                // IPv6address and IPvFuture hold unreserved, sub-delims and ":" only.
                let b = value[i]
                guard ByteClass.isHost(b), b != UInt8(ascii: "["), b != UInt8(ascii: "%") else { return false }
                i += 1
            }
            guard i < n, i > 1 else { return false }
            i += 1
        } else {
            while i < n, value[i] != UInt8(ascii: ":") {
                let b = value[i]
                if b == UInt8(ascii: "%") {
                    guard i + 2 < n, ByteClass.hexValue(value[i + 1]) != nil, ByteClass.hexValue(value[i + 2]) != nil else { return false }
                    i += 3
                    continue
                }
                guard ByteClass.isHost(b), b != UInt8(ascii: "["), b != UInt8(ascii: "]") else { return false }
                i += 1
            }
            guard i > 0 else { return false }
        }
        guard i < n else { return true }
        guard value[i] == UInt8(ascii: ":") else { return false }
        i += 1
        while i < n {
            guard isDigit(value[i]) else { return false }
            i += 1
        }
        return true
    }

    /// Calls `body` with each OWS-trimmed element of a comma-separated list: the non-empty ones,
    /// or with `includingEmpty` every one (an empty value is one empty element; `a,` ends with
    /// one), for fields where an empty element is an error.
    static func forEachListElement(_ value: UnsafeRawBufferPointer, includingEmpty: Bool = false, _ body: (UnsafeRawBufferPointer) -> Void)
    {
        let n = value.count
        var start = 0
        for i in 0...n where i == n || value[i] == UInt8(ascii: ",") {
            var s = start
            var e = i
            while s < e, value[s] == sp || value[s] == htab { s += 1 }
            while e > s, value[e - 1] == sp || value[e - 1] == htab { e -= 1 }
            if includingEmpty || e > s { body(UnsafeRawBufferPointer(rebasing: value[s..<e])) }
            start = i + 1
        }
    }

    /// ASCII case-insensitive comparison with a lower-case literal.
    @inline(__always)
    static func equalsLower(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let p = lower.utf8Start
        for k in 0..<bytes.count {
            var b = bytes[k]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            if b != p[k] { return false }
        }
        return true
    }

    /// The method's name: the common ones as literals (nothing to make, nothing to count),
    /// others made from the bytes.
    @inline(__always)
    static func methodName(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        switch end - start {
        case 3:
            if buf[start] == 0x47 && buf[start + 1] == 0x45 && buf[start + 2] == 0x54 { return "GET" }
            if buf[start] == 0x50 && buf[start + 1] == 0x55 && buf[start + 2] == 0x54 { return "PUT" }
        case 4:
            let word = buf.loadUnaligned(fromByteOffset: start, as: UInt32.self)
            if word == UInt32(0x5453_4f50).littleEndian { return "POST" }
            if word == UInt32(0x4441_4548).littleEndian { return "HEAD" }
        default:
            break
        }
        return string(buf, start, end)
    }

    /// A field's name: the common ones, spelled as usual, as literals (nothing to make or to
    /// check: a string made from bytes costs about 75 instructions), others made from the bytes.
    @inline(__always)
    static func fieldName(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        let name = UnsafeRawBufferPointer(rebasing: buf[start..<end])
        switch name.count {
        case 4 where spelled(name, "Host"): return "Host"
        case 6 where spelled(name, "Accept"): return "Accept"
        case 10 where spelled(name, "User-Agent"): return "User-Agent"
        case 10 where spelled(name, "Connection"): return "Connection"
        case 12 where spelled(name, "Content-Type"): return "Content-Type"
        case 13 where spelled(name, "Authorization"): return "Authorization"
        case 14 where spelled(name, "Content-Length"): return "Content-Length"
        default: return string(buf, start, end)
        }
    }

    /// `bytes` are exactly `text` (of the same length).
    @inline(__always)
    static func spelled(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        let p = text.utf8Start
        for k in 0..<bytes.count where bytes[k] != p[k] { return false }
        return true
    }

    @inline(__always)
    static func string(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: buf[start..<end]), as: UTF8.self)
    }
}
