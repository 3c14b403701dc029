import Glibc
import SidecarTestSupport
import SidecarTestVectors
import Testing

@testable import SidecarHTTP
@testable import SidecarPosix
@testable import SidecarServer

@Suite struct HTTPServerTests {
    static let get = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"

    @Test func keepAlive_servesManyRequestsOnOneConnection() throws {
        let server = try TestServer()
        let client = try server.client()
        for _ in 0..<3 {
            try client.send(Self.get)
            let r = try client.readResponse()
            #expect(r.status == 200)
            #expect(r.bodyText == #"{"status":"ok"}"#)
            #expect(r.field("Connection") == nil)
            #expect(r.field("Date")?.hasSuffix(" GMT") == true)
        }
    }

    @Test func pipelining_answersInOrder_evenAroundADeferredAnswer() throws {
        let server = try TestServer { router in
            router.onAsync("GET", "/slow") { _ in
                try? await Task.sleep(for: .milliseconds(50))
                return .json(200, #"{"slow":true}"#)
            }
        }
        let client = try server.client()
        try client.send(
            "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try client.readResponse().bodyText == #"{"status":"ok"}"#)
        #expect(try client.readResponse().bodyText == #"{"slow":true}"#)
        #expect(try client.readResponse().bodyText == "abc")
        #expect(try client.readResponse().status == 404)
    }

    @Test(arguments: ParserVectors.refused.map(\.name))
    func refusal_isAnswered_thenTheConnectionCloses_andNothingAfterIsRead(name: String) throws {
        let vector = ParserVectors.refused.first { $0.name == name }!
        let server = try TestServer()
        let client = try server.client()
        // A valid request right behind the refused one must never be answered.
        try client.send(vector.request + Self.get)
        let r = try client.readResponse()
        #expect(r.status == vector.status)
        #expect(r.field("Connection") == "close")
        #expect(r.field("Content-Type") == "application/json")
        #expect(r.bodyText.hasPrefix(#"{"error":{"code":""#))
        let rest = client.readToEnd()
        #expect(rest.isEmpty, "read after refusal: \(String(decoding: rest, as: UTF8.self))")
    }

    @Test func unknownPath_is404_wrongMethod_is405WithAllow() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("GET /missing HTTP/1.1\r\nHost: a\r\n\r\nDELETE /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        let notFound = try client.readResponse()
        #expect(notFound.status == 404)
        #expect(notFound.bodyText == #"{"error":{"code":"not_found","message":"no such endpoint"}}"#)
        let wrong = try client.readResponse()
        #expect(wrong.status == 405)
        #expect(wrong.field("Allow") == "GET, HEAD")
    }

    @Test func head_sendsTheFieldsOfGet_withoutBody() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n" + Self.get)
        let head = try client.readResponse(head: true)
        #expect(head.status == 200)
        #expect(head.field("Content-Length") == "15")
        #expect(try client.readResponse().bodyText == #"{"status":"ok"}"#)
    }

    @Test func http10_closesUnlessKeepAliveAsked() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try client.readResponse().field("Connection") == "keep-alive")
        try client.send("GET /healthz HTTP/1.0\r\n\r\n")
        #expect(try client.readResponse().field("Connection") == "close")
        #expect(client.isClosedByPeer())
    }

    @Test func connectionClose_isHonoured() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + Self.get)
        #expect(try client.readResponse().field("Connection") == "close")
        #expect(client.readToEnd().isEmpty)
    }

    @Test func chunkedBody_withExtensionsAndTrailers_isDecoded() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n")
        #expect(try client.readResponse().bodyText == "abcde")
    }

    @Test func expectContinue_getsAnInterimAnswer_thenTheFinalOne() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let interim = try client.readResponse()
        #expect(interim.status == 100)
        try client.send("ping")
        #expect(try client.readResponse().bodyText == "ping")
    }

    @Test(arguments: [("PUT /nowhere", 404), ("PUT /echo", 405)])
    func expectContinue_decidedByTheHead_isAnsweredAtOnce_withoutContinue(line: String, status: Int) throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("\(line) HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nX-Correlation-Id: early-1\r\nContent-Length: 4\r\n\r\n")
        let answer = try client.readResponse()
        #expect(answer.status == status)
        #expect(answer.field("Connection") == "close" && answer.field("x-correlation-id") == "early-1")
        if status == 405 { #expect(answer.field("Allow") == "POST") }
        // The body is never read as a request; the connection ends.
        try? client.send("ping")
        #expect(client.isClosedByPeer())
    }

    @Test func aMalformedTrailer_is400_andTheConnectionCloses() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nBad Trailer: x\r\n\r\n")
        let answer = try client.readResponse()
        #expect(answer.status == 400 && answer.bodyText.contains("bad_trailer"))
        #expect(client.isClosedByPeer())
    }

    @Test func expectContinue_overTheBodyLimit_is413_withoutContinue() throws {
        let server = try TestServer(ServerConfiguration(limits: ParserLimits(maxBodyBytes: 10), loops: 1))
        let client = try server.client()
        try client.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
        #expect(try client.readResponse().status == 413)
    }

    @Test func correlationID_isEchoed_orMade() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("GET /healthz HTTP/1.1\r\nHost: a\r\nX-Correlation-Id: abc-123\r\n\r\n" + Self.get)
        #expect(try client.readResponse().field("x-correlation-id") == "abc-123")
        let made = try client.readResponse().field("x-correlation-id")
        #expect(made?.count == 36)
    }

    @Test func largeAnswer_reachesASlowReader_whole() throws {
        let big = [UInt8](repeating: 0x61, count: 3 << 20)
        let server = try TestServer { router in
            router.on("GET", "/big") { _ in HTTPResponse(status: 200, body: big) }
        }
        let client = try server.client()
        try client.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n" + Self.get)
        // The server has filled its send buffer (it met EAGAIN) before we read.
        #expect(eventually { (client.serverQueues()?.sending ?? 0) > 0 })
        #expect(try client.readResponse().body.count == big.count)
        #expect(try client.readResponse().status == 200)
    }
}
