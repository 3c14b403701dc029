/// Reads a request body incrementally: Content-Length or chunked (RFC 9112 §7.1).
///
/// Pure: feed it whatever bytes arrived; it appends body bytes to the caller's buffer,
/// says how many input bytes it used and whether the body is complete. Chunk extensions
/// and trailer fields are checked for framing and then ignored.
public struct BodyDecoder: Sendable {
    private enum State: Sendable, Equatable {
        case length(remaining: Int)
        case size(value: Int, digits: Int)
        case sizeSpace(value: Int)
        case ext(value: Int, bytes: Int)
        case sizeLF(value: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerStart
        case trailerLine
        case trailerLF(emptyLine: Bool)
        case done
    }

    private var state: State
    private var received = 0
    private var trailerBytes = 0
    private let maxBodyBytes: Int
    private let maxTrailerBytes: Int

    static let maxSizeDigits = 15
    static let maxExtensionBytes = 4096

    /// A decoder for `framing`; `.none` is complete at once.
    public init(framing: BodyFraming, maxBodyBytes: Int, maxTrailerBytes: Int = 16384) {
        switch framing {
        case .none: state = .done
        case .length(let n): state = n == 0 ? .done : .length(remaining: n)
        case .chunked: state = .size(value: 0, digits: 0)
        }
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
    }

    /// Whether the whole body (and any trailer) has been read.
    public var isComplete: Bool { state == .done }

    /// Bytes of body still expected when the length is known in advance.
    public var knownRemaining: Int? {
        if case .length(let remaining) = state { return remaining }
        return nil
    }

    /// Consumes bytes from `input`, appending body bytes to `body`; returns the bytes used.
    /// Stops at the end of the body: what follows belongs to the next request.
    public mutating func decode(_ input: UnsafeRawBufferPointer, into body: inout [UInt8]) throws(HTTPParseError) -> Int {
        var i = 0
        let n = input.count
        while i < n {
            switch state {
            case .done:
                return i
            case .length(let remaining):
                let take = min(remaining, n - i)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<(i + take)]))
                i += take
                state = remaining == take ? .done : .length(remaining: remaining - take)
            case .data(let remaining):
                let take = min(remaining, n - i)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<(i + take)]))
                i += take
                state = remaining == take ? .dataCR : .data(remaining: remaining - take)
            default:
                try step(input[i])
                i += 1
            }
        }
        return i
    }

    /// One byte of chunk framing or trailer.
    private mutating func step(_ b: UInt8) throws(HTTPParseError) {
        switch state {
        case .size(let value, let digits):
            if let h = ByteClass.hexValue(b) {
                guard digits < Self.maxSizeDigits else { throw .badChunk }
                state = .size(value: value << 4 | Int(h), digits: digits + 1)
                return
            }
            guard digits > 0 else { throw .badChunk }
            try afterSize(b, value: value, spaceAllowed: true)
        case .sizeSpace(let value):
            try afterSize(b, value: value, spaceAllowed: true)
        case .ext(let value, let bytes):
            if b == RequestHeadParser.cr {
                state = .sizeLF(value: value)
            } else if b == RequestHeadParser.lf {
                try endOfSizeLine(value)
            } else {
                guard ByteClass.isFieldValue(b), bytes < Self.maxExtensionBytes else { throw .badChunk }
                state = .ext(value: value, bytes: bytes + 1)
            }
        case .sizeLF(let value):
            guard b == RequestHeadParser.lf else { throw .badChunk }
            try endOfSizeLine(value)
        case .dataCR:
            if b == RequestHeadParser.cr {
                state = .dataLF
            } else if b == RequestHeadParser.lf {
                state = .size(value: 0, digits: 0)
            } else {
                throw .badChunk
            }
        case .dataLF:
            guard b == RequestHeadParser.lf else { throw .badChunk }
            state = .size(value: 0, digits: 0)
        case .trailerStart, .trailerLine:
            let atStart = state == .trailerStart
            trailerBytes += 1
            guard trailerBytes <= maxTrailerBytes else { throw .headersTooLarge }
            if b == RequestHeadParser.cr {
                state = .trailerLF(emptyLine: atStart)
            } else if b == RequestHeadParser.lf {
                state = atStart ? .done : .trailerStart
            } else {
                if atStart && (b == RequestHeadParser.sp || b == RequestHeadParser.htab) { throw .badChunk }
                guard ByteClass.isFieldValue(b) else { throw .badChunk }
                state = .trailerLine
            }
        case .trailerLF(let emptyLine):
            guard b == RequestHeadParser.lf else { throw .badChunk }
            state = emptyLine ? .done : .trailerStart
        case .length, .data, .done:
            preconditionFailure("handled by decode")
        }
    }

    private mutating func afterSize(_ b: UInt8, value: Int, spaceAllowed: Bool) throws(HTTPParseError) {
        switch b {
        case RequestHeadParser.sp, RequestHeadParser.htab: state = .sizeSpace(value: value)
        case UInt8(ascii: ";"): state = .ext(value: value, bytes: 0)
        case RequestHeadParser.cr: state = .sizeLF(value: value)
        case RequestHeadParser.lf: try endOfSizeLine(value)
        default: throw .badChunk
        }
    }

    private mutating func endOfSizeLine(_ value: Int) throws(HTTPParseError) {
        if value == 0 {
            state = .trailerStart
            return
        }
        guard received + value <= maxBodyBytes else { throw .bodyTooLarge }
        received += value
        state = .data(remaining: value)
    }
}
