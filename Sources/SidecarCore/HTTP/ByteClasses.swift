/// Character classes of RFC 9110/9112, as 256-entry tables.
enum ByteClass {
    /// tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA.
    static let token: [Bool] = (0..<256).map { b in
        switch UInt8(b) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(UInt8(b))
        }
    }

    /// field-vchar plus SP and HTAB: what a field value may contain.
    static let fieldValue: [Bool] = (0..<256).map { b in b == 0x09 || (b >= 0x20 && b != 0x7F) }

    /// Bytes a request-target may hold: visible ASCII and obs-text; no controls, no space.
    static let target: [Bool] = (0..<256).map { b in b > 0x20 && b != 0x7F }

    /// Bytes a Host value may hold: reg-name / IP-literal characters and ':' for the port.
    static let host: [Bool] = (0..<256).map { b in
        switch UInt8(b) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): true
        default: "-._~!$&'()*+,;=:[]%".utf8.contains(UInt8(b))
        }
    }

    @inline(__always) static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }
}
