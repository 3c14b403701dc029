import Testing

@testable import SidecarHTTP

/// The answer parser, pure: every vector read whole, split at every byte, and split twice.
@Suite struct ResponseParserTests {
    /// What a vector must come to.
    enum Expected: Equatable {
        /// status, body, keep-alive, field count
        case answer(Int, String, Bool, Int)
        case error(ResponseParseError.Kind)
    }

    struct Outcome: Equatable {
        var expected: Expected
        /// Bytes used of the input (only meaningful for answers).
        var used: Int
    }

    static func feed(_ p: inout HTTPResponseParser, _ bytes: [UInt8]) throws(ResponseParseError) -> Int {
        let r: Result<Int, ResponseParseError> = bytes.withUnsafeBytes { buffer in
            do throws(ResponseParseError) { return .success(try p.feed(buffer)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Feeds `parts` in turn, then the end of the connection when `closes`.
    static func parse(_ parts: [[UInt8]], isHead: Bool = false, closes: Bool = false, max: Int = 64) -> Outcome {
        var p = HTTPResponseParser(isHead: isHead, maxBodyBytes: max, maxHeadBytes: 256, maxFields: 8)
        var used = 0
        do throws(ResponseParseError) {
            for part in parts where !p.isComplete {
                used += try Self.feed(&p, part)
            }
            if closes { try p.end() }
            guard p.isComplete else { return Outcome(expected: .error(.truncated), used: used) }
            return Outcome(expected: .answer(p.status, String(decoding: p.body, as: UTF8.self), p.keepAlive, p.fields.count), used: used)
        } catch {
            return Outcome(expected: .error(error.kind), used: 0)
        }
    }

    static let vectors: [(String, Bool, Bool, Expected)] = [
        // (input, isHead, connection closes after it, expected)
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, false, .answer(200, "hello", true, 1)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, false, .answer(200, "", true, 1)),
        ("HTTP/1.1 404 \r\nContent-Length: 2\r\nX-A: b\r\n\r\nno", false, false, .answer(404, "no", true, 2)),
        ("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", false, false, .answer(200, "ok", true, 1)),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false, false,
            .answer(200, "hello world", true, 1)
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n2;x=y\r\nhi\r\n0\r\nX-Sum: 1\r\n\r\n", false, false,
            .answer(200, "hi", true, 1)
        ),
        ("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", false, false, .answer(200, "abc", true, 1)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false, false, .answer(200, "abc", true, 2)),
        ("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\nx", false, false, .answer(200, "x", false, 2)),
        ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, false, .answer(200, "x", false, 1)),
        ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", false, false, .answer(200, "x", true, 2)),
        // Close-delimited: the body runs until the connection ends.
        ("HTTP/1.1 200 OK\r\n\r\nuntil close", false, true, .answer(200, "until close", false, 0)),
        ("HTTP/1.0 200 OK\r\n\r\n", false, true, .answer(200, "", false, 0)),
        // Interim answers are skipped; the final one counts.
        (
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nz",
            false, false, .answer(201, "z", true, 1)
        ),
        // No body: HEAD, 204, 304, whatever the fields say.
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, false, .answer(200, "", true, 1)),
        ("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false, false, .answer(204, "", true, 1)),
        ("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, false, .answer(304, "", true, 1)),
        // Malformed or ambiguous: bad_response.
        ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 3 4\r\n\r\nabc", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/2 200 OK\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.2 200 OK\r\n\r\n", false, false, .error(.malformed)),
        ("http/1.1 200 OK\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 20 OK\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 2000 OK\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 099 Low\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 600 High\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1  200 OK\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nBad Name: a\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nName : a\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nX: a\u{7F}b\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n", false, false, .error(.malformed)),
        ("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", false, false, .error(.malformed)),
        // Over the limits (body 64, head 256, fields 8): too_large.
        ("HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", false, false, .error(.tooLarge)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999\r\n\r\n", false, false, .error(.tooLarge)),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + String(repeating: "a", count: 65) + "\r\n0\r\n\r\n", false,
            false, .error(.tooLarge)
        ),
        ("HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "b", count: 65), false, true, .error(.tooLarge)),
        ("HTTP/1.1 200 OK\r\nX: " + String(repeating: "c", count: 300) + "\r\n\r\n", false, false, .error(.tooLarge)),
        ("HTTP/1.1 200 OK\r\n" + String(repeating: "A: b\r\n", count: 9) + "\r\n", false, false, .error(.tooLarge)),
        // Cut short by the close: truncated (io).
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false, true, .error(.truncated)),
        ("HTTP/1.1 200 OK\r\nContent-Le", false, true, .error(.truncated)),
        ("", false, true, .error(.truncated)),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false, true, .error(.truncated)),
    ]

    @Test(arguments: 0..<vectors.count)
    func everyVector_wholeAndSplitAtEveryByte_agree(_ k: Int) {
        let (text, isHead, closes, expected) = Self.vectors[k]
        let bytes = Array(text.utf8)
        let whole = Self.parse([bytes], isHead: isHead, closes: closes)
        #expect(whole.expected == expected, "\(text.debugDescription)")
        for cut in 0...bytes.count {
            let split = Self.parse([Array(bytes[..<cut]), Array(bytes[cut...])], isHead: isHead, closes: closes)
            #expect(split == whole, "split at \(cut): \(text.debugDescription)")
        }
        // Two cuts, on a coarser grid (every byte twice would be quadratic in the long vectors).
        for a in stride(from: 0, through: bytes.count, by: 3) {
            for b in stride(from: a, through: bytes.count, by: 5) {
                let split = Self.parse([Array(bytes[..<a]), Array(bytes[a..<b]), Array(bytes[b...])], isHead: isHead, closes: closes)
                #expect(split == whole, "split at \(a), \(b): \(text.debugDescription)")
            }
        }
    }

    @Test func pipelinedBytes_afterTheAnswer_areLeftUnused() {
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        let bytes = Array((first + "HTTP/1.1 200 OK\r\n").utf8)
        let outcome = Self.parse([bytes])
        #expect(outcome.expected == .answer(200, "ok", true, 1))
        #expect(outcome.used == first.utf8.count)
    }

    @Test func fields_keepTheirNamesAsSent_andValuesWithoutOuterSpace() throws {
        var p = HTTPResponseParser(isHead: false, maxBodyBytes: 10)
        let bytes = Array("HTTP/1.1 200 OK\r\nX-Mixed-Case:  a b \t\r\nEmpty:\r\nContent-Length: 0\r\n\r\n".utf8)
        _ = try Self.feed(&p, bytes)
        #expect(p.isComplete)
        #expect(p.fields.map(\.name) == ["X-Mixed-Case", "Empty", "Content-Length"])
        #expect(p.fields.map(\.value) == ["a b", "", "0"])
    }

    @Test func nothingReceived_isToldApartFromAnAnswerCutShort() throws {
        var idle = HTTPResponseParser(isHead: false, maxBodyBytes: 10)
        #expect(!idle.receivedAny)
        #expect(throws: ResponseParseError(.truncated, "connection closed before any answer")) { try idle.end() }
        var cut = HTTPResponseParser(isHead: false, maxBodyBytes: 10)
        _ = try Self.feed(&cut, Array("HTTP/1.1".utf8))
        #expect(cut.receivedAny)
    }
}
