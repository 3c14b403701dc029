/// Reads a request body incrementally: Content-Length or chunked (RFC 9112 §7.1).
///
/// Pure: feed it whatever bytes arrived; it appends body bytes to the caller's buffer,
/// says how many input bytes it used and whether the body is complete. Chunk extensions
/// are checked against RFC 9112 §7.1.1's grammar (`;` name [`=` token or quoted-string]) and
/// trailer fields against the header-field rules and limits, then both are ignored.
package struct BodyDecoder: Sendable {
    /// Where in a chunk extension (`; name = value`) a byte falls.
    private enum ExtPhase: Sendable, Equatable {
        case beforeName, name, afterName, beforeValue, token, quoted, quotedEscape, afterValue
    }

    /// Where in a trailer field line a byte falls.
    private enum TrailerPhase: Sendable, Equatable {
        case lineStart, name, value
    }

    private enum State: Sendable, Equatable {
        case length(remaining: Int)
        case size(value: Int, digits: Int)
        case sizeSpace(value: Int)
        case ext(value: Int, phase: ExtPhase)
        case sizeLF(value: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailer(TrailerPhase)
        case trailerLF(emptyLine: Bool)
        case done
    }

    private var state: State
    private var received = 0
    private var trailerBytes = 0
    private var trailerFields = 0
    private var extensionBytes = 0
    private let maxBodyBytes: Int
    private let maxTrailerBytes: Int
    private let maxTrailerFields: Int

    static let maxSizeDigits = 15
    static let maxExtensionBytes = 4096

    /// A decoder for `framing`; `.none` is complete at once. Trailers get the header block's
    /// limits: `maxTrailerBytes` in all and `maxTrailerFields` fields.
    package init(framing: BodyFraming, maxBodyBytes: Int, maxTrailerBytes: Int = 16384, maxTrailerFields: Int = 100) {
        switch framing {
        case .none: state = .done
        case .length(let n): state = n == 0 ? .done : .length(remaining: n)
        case .chunked: state = .size(value: 0, digits: 0)
        }
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
        self.maxTrailerFields = maxTrailerFields
    }

    /// Whether the whole body (and any trailer) has been read.
    package var isComplete: Bool { state == .done }

    /// Bytes of body still expected when the length is known in advance.
    package var knownRemaining: Int? {
        if case .length(let remaining) = state { return remaining }
        return nil
    }

    /// Consumes bytes from `input`, appending body bytes to `body`; returns the bytes used.
    /// Stops at the end of the body: what follows belongs to the next request.
    package mutating func decode(_ input: UnsafeRawBufferPointer, into body: inout [UInt8]) throws(HTTPParseError) -> Int {
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
        case .ext(let value, let phase):
            extensionBytes += 1
            guard extensionBytes <= Self.maxExtensionBytes else { throw .badChunk }
            try extensionStep(b, value: value, phase)
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
        case .trailer(let phase):
            trailerBytes += 1
            guard trailerBytes <= maxTrailerBytes else { throw .headersTooLarge }
            try trailerStep(b, phase)
        case .trailerLF(let emptyLine):
            guard b == RequestHeadParser.lf else { throw .badTrailer }
            state = emptyLine ? .done : .trailer(.lineStart)
        case .length, .data, .done:
            preconditionFailure("handled by decode")
        }
    }

    private mutating func afterSize(_ b: UInt8, value: Int, spaceAllowed: Bool) throws(HTTPParseError) {
        switch b {
        case RequestHeadParser.sp, RequestHeadParser.htab: state = .sizeSpace(value: value)
        case UInt8(ascii: ";"): state = .ext(value: value, phase: .beforeName)
        case RequestHeadParser.cr: state = .sizeLF(value: value)
        case RequestHeadParser.lf: try endOfSizeLine(value)
        default: throw .badChunk
        }
    }

    private mutating func endOfSizeLine(_ value: Int) throws(HTTPParseError) {
        extensionBytes = 0
        if value == 0 {
            state = .trailer(.lineStart)
            return
        }
        guard received + value <= maxBodyBytes else { throw .bodyTooLarge }
        received += value
        state = .data(remaining: value)
    }

    /// `chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
    private mutating func extensionStep(_ b: UInt8, value: Int, _ phase: ExtPhase) throws(HTTPParseError) {
        let space = b == RequestHeadParser.sp || b == RequestHeadParser.htab
        let endOfLine = b == RequestHeadParser.cr || b == RequestHeadParser.lf
        func next(_ p: ExtPhase) { state = .ext(value: value, phase: p) }
        switch phase {
        case .beforeName:
            if space { return }
            guard ByteClass.isToken(b) else { throw .badChunk }
            next(.name)
        case .name, .token:
            if ByteClass.isToken(b) { return }
            if space { return next(phase == .name ? .afterName : .afterValue) }
            if b == UInt8(ascii: "=") && phase == .name { return next(.beforeValue) }
            if b == UInt8(ascii: ";") { return next(.beforeName) }
            guard endOfLine else { throw .badChunk }
            try endOfExtension(b, value: value)
        case .afterName, .afterValue:
            if space { return }
            if b == UInt8(ascii: "=") && phase == .afterName { return next(.beforeValue) }
            if b == UInt8(ascii: ";") { return next(.beforeName) }
            guard endOfLine else { throw .badChunk }
            try endOfExtension(b, value: value)
        case .beforeValue:
            if space { return }
            if b == UInt8(ascii: "\"") { return next(.quoted) }
            guard ByteClass.isToken(b) else { throw .badChunk }
            next(.token)
        case .quoted:
            // qdtext (HTAB, SP, VCHAR but `"` and `\`, obs-text) or a quoted-pair.
            if b == UInt8(ascii: "\"") { return next(.afterValue) }
            if b == UInt8(ascii: "\\") { return next(.quotedEscape) }
            guard ByteClass.isFieldValue(b) else { throw .badChunk }
        case .quotedEscape:
            guard ByteClass.isFieldValue(b) else { throw .badChunk }
            next(.quoted)
        }
    }

    private mutating func endOfExtension(_ b: UInt8, value: Int) throws(HTTPParseError) {
        if b == RequestHeadParser.cr {
            state = .sizeLF(value: value)
        } else {
            try endOfSizeLine(value)
        }
    }

    /// A trailer line: `field-name ":" OWS field-value OWS`, like a header field (no obs-fold,
    /// no whitespace before the colon), at most `maxTrailerFields` of them.
    private mutating func trailerStep(_ b: UInt8, _ phase: TrailerPhase) throws(HTTPParseError) {
        switch phase {
        case .lineStart:
            if b == RequestHeadParser.cr {
                state = .trailerLF(emptyLine: true)
                return
            }
            if b == RequestHeadParser.lf {
                state = .done
                return
            }
            guard ByteClass.isToken(b) else { throw .badTrailer }
            trailerFields += 1
            guard trailerFields <= maxTrailerFields else { throw .tooManyHeaders }
            state = .trailer(.name)
        case .name:
            if ByteClass.isToken(b) { return }
            guard b == UInt8(ascii: ":") else { throw .badTrailer }
            state = .trailer(.value)
        case .value:
            if b == RequestHeadParser.cr {
                state = .trailerLF(emptyLine: false)
                return
            }
            if b == RequestHeadParser.lf {
                state = .trailer(.lineStart)
                return
            }
            guard ByteClass.isFieldValue(b) else { throw .badTrailer }
        }
    }
}
