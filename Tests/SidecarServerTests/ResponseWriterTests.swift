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
