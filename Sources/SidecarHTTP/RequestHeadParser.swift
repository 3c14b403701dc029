/// The outcome of parsing the bytes received so far.
package enum HeadParseResult: Sendable {
    /// The head is not complete yet: call again with more bytes (from the same start).
    case incomplete
    /// A valid head that took `consumed` bytes (blank lines before it included).
    case complete(RequestHead, consumed: Int)
    /// The request is refused; nothing after it may be read as a new request.
    case failure(HTTPParseError)
}

/// A pure, strict HTTP/1.1 request-head parser (RFC 9112): bytes in, a verdict out.
///
/// It keeps no state between calls: the caller passes all bytes from the start of the
/// request each time (as picohttpparser does); a head is at most a few KiB, so the re-scan
/// is cheap. Every byte seen so far is validated, so garbage is refused without waiting.
package enum RequestHeadParser {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let sp: UInt8 = 0x20
    static let htab: UInt8 = 0x09
    static let maxMethodBytes = 32
    /// "HTTP/1.1" and CRLF as the words `loadUnaligned` reads them (little-endian).
    static let http11 = UInt64(littleEndian: 0x312E_312F_5054_5448)
    static let crlf = UInt16(littleEndian: 0x0A0D)

    /// Parses a head from the bytes of `bytes` (convenience for tests and tools).
    package static func parse(_ bytes: [UInt8], limits: ParserLimits = ParserLimits()) -> HeadParseResult {
        bytes.withUnsafeBytes { parse($0, limits: limits) }
    }

    /// Parses a head from `buf`, which starts where the request starts.
    package static func parse(_ buf: UnsafeRawBufferPointer, limits: ParserLimits) -> HeadParseResult {
        let n = buf.count
        var i = 0
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
        while i < n {
            if buf[i] == lf {
                i += 1
            } else if buf[i] == cr {
                guard i + 1 < n else { return .incomplete }
                guard buf[i + 1] == lf else { return .failure(.badRequestLine) }
                i += 2
            } else {
                break
            }
            if i > 64 { return .failure(.badRequestLine) }
        }
        guard i < n else { return .incomplete }

        // method SP: upper-case letters, '-' and '_' only, as nginx accepts (a stricter tchar)
        let methodStart = i
        while i < n, (buf[i] >= 0x41 && buf[i] <= 0x5A) || buf[i] == UInt8(ascii: "-") || buf[i] == UInt8(ascii: "_") {
            i += 1
            if i - methodStart > maxMethodBytes { return .failure(.badMethod) }
        }
        guard i < n else { return .incomplete }
        guard i > methodStart else { return .failure(.badRequestLine) }
        guard buf[i] == sp else { return .failure(.badRequestLine) }
        let methodEnd = i
        i += 1

        // request-target SP
        let targetStart = i
        while i < n, ByteClass.isTarget(buf[i]) {
            i += 1
            if i - targetStart > limits.maxTargetBytes { return .failure(.targetTooLong) }
        }
        guard i < n else { return .incomplete }
        // A byte a URI may not hold (non-ASCII, `{`, `|`, ...) inside the target: 400 bad_target.
        if i > targetStart, buf[i] > sp, buf[i] != 0x7F { return .failure(.badTarget) }
        guard i > targetStart, buf[i] == sp else { return .failure(.badRequestLine) }
        let targetEnd = i
        i += 1

        // HTTP-version CRLF
        let versionResult = parseVersion(buf, &i)
        guard case .some(.some(let version)) = versionResult else {
            return versionResult == nil ? .incomplete : .failure(lastVersionError(buf, from: targetEnd + 1))
        }

        return parseFields(
            buf, from: i, limits: limits,
            method: (methodStart, methodEnd), target: (targetStart, targetEnd), version: version)
    }

    /// nil: incomplete; .some(nil): an error (see `lastVersionError`); else the version.
    private static func parseVersion(_ buf: UnsafeRawBufferPointer, _ i: inout Int) -> HTTPVersion?? {
        let n = buf.count
        // The usual case in one comparison: "HTTP/1.1" then CRLF.
        if i + 10 <= n, buf.loadUnaligned(fromByteOffset: i, as: UInt64.self) == http11,
            buf.loadUnaligned(fromByteOffset: i + 8, as: UInt16.self) == crlf
        {
            i += 10
            return .some(.http11)
        }
        let pattern: StaticString = "HTTP/"
        for k in 0..<5 {
            guard i + k < n else { return nil }
            guard buf[i + k] == pattern.utf8Start[k] else { return .some(nil) }
        }
        guard i + 7 < n else {
            // Judge the major version as soon as it is there: "HTTP/2" is 505 at once.
            if i + 5 < n, !isDigit(buf[i + 5]) { return .some(nil) }
            if i + 6 < n, buf[i + 6] != UInt8(ascii: ".") { return .some(nil) }
            if i + 5 < n, buf[i + 5] != UInt8(ascii: "1") { return .some(nil) }
            return nil
        }
        let major = buf[i + 5]
        let dot = buf[i + 6]
        let minor = buf[i + 7]
        guard isDigit(major), dot == UInt8(ascii: "."), isDigit(minor), major == UInt8(ascii: "1") else {
            return .some(nil)
        }
        var j = i + 8
        guard j < n else { return nil }
        if buf[j] == cr {
            guard j + 1 < n else { return nil }
            guard buf[j + 1] == lf else { return .some(nil) }
            j += 2
        } else if buf[j] == lf {
            j += 1
        } else {
            return .some(nil)
        }
        i = j
        return .some(minor == UInt8(ascii: "0") ? .http10 : .http11)
    }

    private static func lastVersionError(_ buf: UnsafeRawBufferPointer, from i: Int) -> HTTPParseError {
        // A major version other than 1 is "not supported" (505) whatever follows it: the verdict
        // is given as soon as that digit arrives, so it must not change with the bytes after
        // (found by fuzzing: "HTTP/0" then ".\0" was 505 split there, 400 whole). The rest is 400.
        let n = buf.count
        let prefix: StaticString = "HTTP/"
        guard i + 5 < n, (0..<5).allSatisfy({ buf[i + $0] == prefix.utf8Start[$0] }), isDigit(buf[i + 5]) else {
            return .badVersion
        }
        return buf[i + 5] == UInt8(ascii: "1") ? .badVersion : .unsupportedVersion
    }

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}
