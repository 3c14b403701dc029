import Testing

@testable import SidecarHTTP

@Suite struct BodyDecoderTests {
    /// Feeds `input` in two parts split at `k`; returns the body, or the error.
    func decode(_ input: String, framing: BodyFraming = .chunked, split k: Int? = nil, max: Int = 1 << 20) -> Result<
        (body: String, used: Int), HTTPParseError
    > {
        let bytes = Array(input.utf8)
        var decoder = BodyDecoder(framing: framing, maxBodyBytes: max, maxTrailerBytes: 64)
        var body: [UInt8] = []
        var used = 0
        let cut = k ?? bytes.count
        for part in [Array(bytes[0..<cut]), Array(bytes[cut...])] where !decoder.isComplete {
            let step: Result<Int, HTTPParseError> = part.withUnsafeBytes { buf in
                do throws(HTTPParseError) { return .success(try decoder.decode(buf, into: &body)) } catch { return .failure(error) }
            }
            switch step {
            case .success(let n): used += n
            case .failure(let e): return .failure(e)
            }
        }
        guard decoder.isComplete else { return .failure(.badChunk) }
        return .success((String(decoding: body, as: UTF8.self), used))
    }

    static let good: [(String, String)] = [
        ("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
        ("5;name=value;x\r\nhello\r\n0\r\n\r\n", "hello"),
        ("5 ;ext\r\nhello\r\n0\r\n\r\n", "hello"),
        ("A\r\n0123456789\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n", "0123456789"),
        ("5\nhello\n0\n\n", "hello"),
        ("000005\r\nhello\r\n0\r\n\r\n", "hello"),
        // Chunk extensions by RFC 9112 §7.1.1: BWS around ";" and "=", token or quoted values.
        ("5 ; a = b ; c\r\nhello\r\n0\r\n\r\n", "hello"),
        ("5;q=\"a \\\" ;b\"\r\nhello\r\n0;last\r\n\r\n", "hello"),
        // Trailer fields like header fields; an empty value is allowed.
        ("5\r\nhello\r\n0\r\nX-Sum:\r\n\r\n", "hello"),
    ]

    @Test(arguments: good.indices)
    func chunked_decodesTheSame_atEverySplit(index: Int) throws {
        let (input, expected) = Self.good[index]
        for k in 0...input.utf8.count {
            let result = try decode(input, split: k).get()
            #expect(result.body == expected, "split \(k)")
            #expect(result.used == input.utf8.count)
        }
    }

    static let bad: [(String, Int)] = [
        ("x\r\nhello\r\n0\r\n\r\n", 400),
        ("\r\nhello\r\n0\r\n\r\n", 400),
        (" 5\r\nhello\r\n0\r\n\r\n", 400),
        ("5\rhello\r\n0\r\n\r\n", 400),
        ("5\r\nhelloX\r\n0\r\n\r\n", 400),
        ("5\r\nhello\rX0\r\n\r\n", 400),
        ("-5\r\nhello\r\n0\r\n\r\n", 400),
        ("5;a\u{0}b\r\nhello\r\n0\r\n\r\n", 400),
        ("FFFFFFFFFFFFFFFFFF\r\n", 400),
        ("0\r\n bad\r\n\r\n", 400),
        ("0\r\nA: \u{1}\r\n\r\n", 400),
        ("0\r\n" + String(repeating: "T: v\r\n", count: 20) + "\r\n", 431),
        ("400\r\n", 413),
        // Chunk extensions that break the grammar.
        ("1;a b c\r\nx\r\n0\r\n\r\n", 400),
        ("1;a=\"x\r\nx\r\n0\r\n\r\n", 400),
        ("1;=x\r\nx\r\n0\r\n\r\n", 400),
        ("1;a=\r\nx\r\n0\r\n\r\n", 400),
        ("1;a=b=c\r\nx\r\n0\r\n\r\n", 400),
        ("1;a@b\r\nx\r\n0\r\n\r\n", 400),
        ("1;" + String(repeating: "a", count: 5000) + "\r\nx\r\n0\r\n\r\n", 400),
        // Trailer lines that break the header-field rules.
        ("0\r\nBad Trailer: x\r\n\r\n", 400),
        ("0\r\nX-T : x\r\n\r\n", 400),
        ("0\r\nNoColon\r\n\r\n", 400),
        ("0\r\n: empty name\r\n\r\n", 400),
    ]

    @Test(arguments: bad.indices)
    func chunked_refusesMalformedFraming_atEverySplit(index: Int) {
        let (input, status) = Self.bad[index]
        for k in 0...input.utf8.count {
            guard case .failure(let e) = decode(input, split: k, max: 1000) else {
                Issue.record("accepted \(input.debugDescription) split at \(k)")
                return
            }
            #expect(e.status == status, "\(input.debugDescription) split \(k): \(e)")
        }
    }

    @Test func contentLength_takesExactlyItsBytes() throws {
        let result = try decode("helloGET / HTTP/1.1", framing: .length(5), split: 2).get()
        #expect(result.body == "hello")
        #expect(result.used == 5)
    }

    @Test func chunked_stopsAtItsEnd_leavingPipelinedBytes() throws {
        let result = try decode("1\r\na\r\n0\r\n\r\nGET /", split: 3).get()
        #expect(result.body == "a")
        #expect(result.used == 11)
    }

    @Test func chunked_countsTheBodyAcrossChunks_againstTheLimit() {
        guard case .failure(let e) = decode("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", max: 5) else {
            Issue.record("over the limit accepted")
            return
        }
        #expect(e.status == 413)
    }
}
