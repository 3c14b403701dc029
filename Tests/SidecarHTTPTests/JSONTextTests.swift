import Foundation
import Testing

@testable import SidecarHTTP

@Suite struct JSONTextTests {
    @Test(arguments: [
        "{}", "[]", "0", "-0", "1.5e-3", "-12.75E+2", "true", "false", "null", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\"",
        " {\"a\": [1, {\"b\": null}], \"c\": \"é😀\"} ", "[[[[[]]]]]", "\"\u{7F}\"",
    ])
    func valid(text: String) {
        #expect(JSONText.isValid(Array(text.utf8)))
        #expect(
            (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) != nil, "reference disagrees: \(text)")
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", ".5", "1e", "+1", "-", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"a\u{01}b\"", "[1 2]", "{\"a\" 1}", "1 2", "NaN", "Infinity", "'a'",
        "[" + String(repeating: "[", count: 300) + String(repeating: "]", count: 301),
    ])
    func invalid(text: String) {
        #expect(!JSONText.isValid(Array(text.utf8)))
    }

    @Test func invalidUTF8_isRefused() {
        for bad: [UInt8] in [
            [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22],
        ] {
            #expect(!JSONText.isValid(bad))
        }
    }

    @Test func writer_escapesAndFormatsMilliseconds() throws {
        var w = JSONWriter()
        w.raw("[")
        w.string("a\"b\\c\n\u{01}é")
        w.raw(",")
        w.milliseconds(1.5)
        w.raw(",")
        w.milliseconds(2)
        w.raw(",")
        w.milliseconds(0.0304)
        w.raw("]")
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text == #"["a\"b\\c\n\u0001é",1.5,2,0.03]"#)
        #expect(JSONText.isValid(w.bytes))
    }

    @Test func writer_numbers_matchSwiftsFormatting() {
        for n in [0, 7, -7, 10, 1_234_567_890, Int.max, Int.min] {
            var w = JSONWriter()
            w.int(n)
            #expect(String(decoding: w.bytes, as: UTF8.self) == String(n))
        }
        for (ms, text) in [
            (0.0, "0"), (0.005, "0.005"), (0.05, "0.05"), (12.12, "12.12"), (-0.5, "-0.5"), (100.0004, "100"), (3.1239, "3.124"),
        ] {
            var w = JSONWriter()
            w.milliseconds(ms)
            #expect(String(decoding: w.bytes, as: UTF8.self) == text)
        }
    }
}
