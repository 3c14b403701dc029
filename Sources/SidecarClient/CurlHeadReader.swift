import SidecarHTTP

/// Reads an answer's head from the lines libcurl hands over, as strictly as our own client:
/// each line, as it came (its CRLF, or whatever ended it, included), is fed to the same
/// `HTTPResponseParser`, so the libcurl path has the same limits (head bytes, fields) and the
/// same refusals (bare LF, bare CR, obs-fold, Content-Length with Transfer-Encoding, a status
/// outside 100-599), which libcurl itself lets pass. Lines after the final head are trailers,
/// held to the head's size. Pure: the fuzz target drives it line by line.
package struct CurlHeadReader: Sendable {
    /// The largest answer head and the most fields: our own client's limits.
    package static let maxHeadBytes = 65536
    package static let maxFields = 100

    private var parser = HTTPResponseParser(isHead: true, maxBodyBytes: 0, maxHeadBytes: maxHeadBytes, maxFields: maxFields)
    /// Whether the head being read is an interim (1xx) one.
    private var interim = false
    private var trailerBytes = 0
    /// Whether the final answer's head has been read.
    package private(set) var isComplete = false
    /// Why the head was refused; once set, every later line is refused too.
    package private(set) var failure: ResponseParseError?

    package init() {}

    /// The final answer's status and fields, once complete.
    package var status: Int { parser.status }
    package var fields: HTTPFields { parser.fields }

    /// Takes one line; false when the answer is refused (the transfer must stop).
    package mutating func line(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard failure == nil else { return false }
        if isComplete {
            trailerBytes += raw.count
            guard trailerBytes <= Self.maxHeadBytes else {
                failure = ResponseParseError(.tooLarge, "answer trailer over \(Self.maxHeadBytes) bytes")
                return false
            }
            return true
        }
        if raw.count >= 12, raw[0] == UInt8(ascii: "H"), raw[1] == UInt8(ascii: "T"), raw[2] == UInt8(ascii: "T"),
            raw[3] == UInt8(ascii: "P")
        {
            interim = raw[9] == UInt8(ascii: "1")
        }
        do {
            _ = try parser.feed(raw)
        } catch {
            failure = error
            return false
        }
        if parser.isComplete {
            isComplete = true
        } else if raw.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) && !interim {
            // libcurl saw the head end, the parser did not: its lines ended with bare LFs.
            failure = ResponseParseError(.malformed, "answer head lines not ended by CRLF")
            return false
        }
        return true
    }
}
