import Testing

@testable import SidecarHTTP
@testable import SidecarServer

@Suite struct ResponseWriterTests {
    @Test(arguments: [0, 7, 9, 10, 99, 100, 12345, 1 << 40])
    func contentLength_isWrittenInPlace(_ n: Int) {
        var out: [UInt8] = Array("x".utf8)
        ResponseWriter.appendContentLength(&out, n)
        #expect(String(decoding: out, as: UTF8.self) == "xContent-Length: \(n)\r\n")
    }
}

extension ResponseWriterTests {
    @Test func fields_shortAndLong_areWrittenWhole() {
        var out: [UInt8] = []
        let long = String(repeating: "v", count: 300)
        ResponseWriter.appendField(&out, "A", "b")
        ResponseWriter.appendField(&out, "Long", long)
        #expect(String(decoding: out, as: UTF8.self) == "A: b\r\nLong: \(long)\r\n")
    }
}

extension ResponseWriterTests {
    @Test(arguments: [(1, "1"), (15, "f"), (16, "10"), (4096, "1000"), (65_535, "ffff")])
    func aChunk_isItsSizeInHex_theBytes_andCRLFs(_ size: Int, _ hex: String) {
        var out: [UInt8] = []
        ResponseWriter.appendChunk(&out, [UInt8](repeating: 0x61, count: size), chunked: true)
        #expect(String(decoding: out, as: UTF8.self) == "\(hex)\r\n\(String(repeating: "a", count: size))\r\n")
    }

    @Test func noBytes_isNoChunk_andUnchunkedBytesGoAsTheyAre() {
        var out: [UInt8] = []
        ResponseWriter.appendChunk(&out, [], chunked: true)
        #expect(out.isEmpty, "an empty chunk would end the body")
        ResponseWriter.appendChunk(&out, Array("ab".utf8), chunked: false)
        #expect(out == Array("ab".utf8))
    }

    @Test func aStreamedHead_saysChunked_andCarriesNoLengthOrBody() {
        var out: [UInt8] = []
        ResponseWriter.write(
            HTTPResponse(status: 200, body: Array("unused".utf8)), to: &out, statusLine: Array("HTTP/1.1 200 OK\r\n".utf8), dateLine: [],
            omitBody: false, version: .http11, keepAlive: true, framing: .chunked)
        #expect(String(decoding: out, as: UTF8.self) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    }
}
