import Testing

@testable import SidecarHTTP

@Suite struct CorrelationIDTests {
    @Test func madeIDs_areUUIDv4Text() {
        var seen = Set<String>()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let id = CorrelationID(random: rng.next(), rng.next()).description
            #expect(id.count == 36)
            let parts = id.split(separator: "-").map(\.count)
            #expect(parts == [8, 4, 4, 4, 12])
            #expect(id.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase })
            #expect(Array(id)[14] == "4")
            #expect("89ab".contains(Array(id)[19]))
            seen.insert(id)
        }
        #expect(seen.count == 200)
        #expect(
            CorrelationID.hex8(0x0123_abcf) == UInt64(littleEndian: Array("fcba3210".utf8).withUnsafeBytes { $0.load(as: UInt64.self) }))
    }

    @Test func givenIDs_areKeptOnlyWhenVisibleASCII() {
        #expect(CorrelationID(given: "abc-1")?.description == "abc-1")
        #expect(CorrelationID(given: "") == nil)
        #expect(CorrelationID(given: "a b") == nil)
        #expect(CorrelationID(given: String(repeating: "a", count: 129)) == nil)
    }

    @Test func madeIDText_isExact_andItsFieldLineIsOneCopy() {
        let id = CorrelationID(random: 0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210)
        #expect(id.description == "fedcba98-7654-4210-8123-456789abcdef")
        var out: [UInt8] = Array("x".utf8)
        id.writeField(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "xx-correlation-id: fedcba98-7654-4210-8123-456789abcdef\r\n")
        var given: [UInt8] = []
        CorrelationID(given: "abc")?.writeField(into: &given)
        #expect(String(decoding: given, as: UTF8.self) == "x-correlation-id: abc\r\n")
    }
}
