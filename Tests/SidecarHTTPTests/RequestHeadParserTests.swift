import SidecarTestVectors
import Testing

@testable import SidecarHTTP

@Suite struct RequestHeadParserTests {
    static let limits = ParserLimits()

    /// Parses `text` fed in two parts split at `k`: the prefix must never be judged otherwise.
    func verdict(_ bytes: [UInt8]) -> HeadParseResult { RequestHeadParser.parse(bytes, limits: Self.limits) }

    @Test(arguments: ParserVectors.refused.map(\.name))
    func refuses_withStatus_atEverySplit(name: String) {
        let vector = ParserVectors.refused.first { $0.name == name }!
        let bytes = Array(vector.request.utf8)
        let headEnd = headLength(bytes)
        var statusSeen: Int?
        for k in 0...headEnd {
            switch verdict(Array(bytes[0..<k])) {
            case .incomplete:
                #expect(k < headEnd || isBodyError(vector.status), "full head still incomplete: \(name)")
            case .failure(let e):
                #expect(e.status == vector.status, "\(name) split at \(k): \(e)")
                statusSeen = e.status
            case .complete:
                // A body-level refusal (chunk framing) is judged by the body decoder.
                #expect(isBodyError(vector.status), "\(name) complete at \(k)")
            }
        }
        if !isBodyError(vector.status) { #expect(statusSeen == vector.status, "\(name) never refused") }
    }

    @Test(arguments: ParserVectors.accepted.map(\.name))
    func accepts_onlyWhenComplete_atEverySplit(name: String) {
        let bytes = Array(ParserVectors.accepted.first { $0.name == name }!.request.utf8)
        for k in 0..<bytes.count {
            guard case .incomplete = verdict(Array(bytes[0..<k])) else {
                Issue.record("\(name): prefix of \(k) bytes was not incomplete")
                return
            }
        }
        guard case .complete(let head, let consumed) = verdict(bytes) else {
            Issue.record("\(name) refused")
            return
        }
        #expect(consumed == bytes.count)
        #expect(head.path == "/healthz" || head.path == "*")
    }

    @Test func absoluteForm_isReducedToPathAndQuery() throws {
        let head = try parsed("GET http://example.com:8080/a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(head.path == "/a/b")
        #expect(head.query == "x=1&y=2")
        #expect(head.target == "http://example.com:8080/a/b?x=1&y=2")
    }

    @Test func keepAlive_followsVersionAndConnection() throws {
        #expect(try parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keepAlive)
        #expect(try !parsed("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").keepAlive)
        #expect(try !parsed("GET / HTTP/1.0\r\n\r\n").keepAlive)
        #expect(try parsed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive)
        #expect(try !parsed("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n").keepAlive)
    }

    @Test func framing_isReadFromContentLengthOrChunked() throws {
        #expect(try parsed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n").framing == .length(12))
        #expect(try parsed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").framing == BodyFraming.none)
        #expect(try parsed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").framing == .chunked)
        #expect(try parsed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n").framing == .chunked)
        #expect(try parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").framing == BodyFraming.none)
    }

    @Test func expectContinue_onlyForHTTP11() throws {
        #expect(try parsed("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)
        #expect(try !parsed("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expectsContinue)
    }

    @Test func fields_keepOrderAndTrimOWS() throws {
        let head = try parsed("GET / HTTP/1.1\r\nHost: a\r\nX-One:  1 \r\nx-one: 2\r\n\r\n")
        #expect(head.fields["X-ONE"] == "1")
        #expect(head.fields.values("x-one") == ["1", "2"])
        #expect(head.fields.count == 3)
    }

    /// The common names are literals, but each name stays as it was sent.
    @Test func fieldNames_areKeptAsSent() throws {
        let head = try parsed(
            "GET / HTTP/1.1\r\nhost: a\r\nAccept: */*\r\nUser-agent: u\r\nUser-Agent: v\r\nContent-Length: 0\r\nConnection: x\r\n\r\n")
        #expect(head.fields.storage.map(\.name) == ["host", "Accept", "User-agent", "User-Agent", "Content-Length", "Connection"])
        #expect(head.fields.values("user-agent") == ["u", "v"])
    }

    @Test func aFragment_isDropped_fromThePathOrTheQuery() throws {
        for (target, path, query) in [
            ("/a#b?c", "/a", nil), ("/a?b#c?d", "/a", "b"), ("/a?#", "/a", ""), ("/a#", "/a", nil), ("/#x", "/", nil as String?),
        ] {
            let head = try parsed("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(head.path == path && head.query == query, "\(target)")
        }
    }

    @Test func consumed_stopsAtEndOfHead_leavingPipelinedBytes() throws {
        let bytes = Array("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n".utf8)
        guard case .complete(let head, let consumed) = verdict(bytes) else { throw ParseFailure("not complete") }
        #expect(head.path == "/a")
        #expect(consumed == 28)
    }

    @Test func limits_areConfigurable() {
        let small = ParserLimits(maxTargetBytes: 10, maxHeaderBytes: 300, maxHeaderFields: 2, maxBodyBytes: 5)
        func status(_ s: String) -> Int? {
            if case .failure(let e) = RequestHeadParser.parse(Array(s.utf8), limits: small) { return e.status }
            return nil
        }
        #expect(status("GET /01234567890 HTTP/1.1\r\nHost: a\r\n\r\n") == 414)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n") == 431)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nA: " + String(repeating: "x", count: 300) + "\r\n\r\n") == 431)
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n") == 413)
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n") == nil)
    }

    @Test func garbage_isRefusedBeforeTheLineEnds() {
        // A TLS ClientHello on the plain port: refused at once, not after the header timeout.
        guard case .failure(let e) = verdict([0x16, 0x03, 0x01, 0x02, 0x00]) else {
            Issue.record("TLS bytes not refused")
            return
        }
        #expect(e.status == 400)
    }

    private func parsed(_ s: String) throws -> RequestHead {
        guard case .complete(let head, _) = verdict(Array(s.utf8)) else { throw ParseFailure("not complete: \(s)") }
        return head
    }

    private func headLength(_ bytes: [UInt8]) -> Int {
        for i in 0..<bytes.count where i + 3 < bytes.count {
            if bytes[i] == 13, bytes[i + 1] == 10, bytes[i + 2] == 13, bytes[i + 3] == 10 { return i + 4 }
        }
        return bytes.count
    }

    private func isBodyError(_ status: Int) -> Bool { false }
}

private struct ParseFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
