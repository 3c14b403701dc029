/// Character classes of RFC 9110/9112 as 128-bit masks over ASCII: constant-folded,
/// so a check is a shift and an AND (no table, no lazy global).
package enum ByteClass {
    /// Bit `b` of (high, low) is set when ASCII byte `b` belongs to the class.
    @inline(__always)
    private static func test(_ b: UInt8, _ low: UInt64, _ high: UInt64) -> Bool {
        b < 64 ? (low >> UInt64(b)) & 1 == 1 : b < 128 ? (high >> UInt64(b - 64)) & 1 == 1 : false
    }

    // tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA
    private static let tokenLow: UInt64 = 0x03FF_6CFA_0000_0000
    private static let tokenHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE
    // reg-name, IP-literal and port characters: unreserved, sub-delims, ':', '[', ']', '%'
    private static let hostLow: UInt64 = 0x2FFF_7FF2_0000_0000
    private static let hostHigh: UInt64 = 0x47FF_FFFE_AFFF_FFFE

    /// tchar.
    @inline(__always) package static func isToken(_ b: UInt8) -> Bool { test(b, tokenLow, tokenHigh) }

    /// What a field value may hold: HTAB, SP, VCHAR, obs-text.
    @inline(__always) package static func isFieldValue(_ b: UInt8) -> Bool { b == 0x09 || (b >= 0x20 && b != 0x7F) }

    // A request-target's characters: visible ASCII but what RFC 3986 leaves out of a URI
    // (`"` `<` `>` `\` `^` `` ` `` `{` `|` `}`); `[` and `]` stay, as clients send them in queries.
    private static let targetLow: UInt64 = 0xAFFF_FFFA_0000_0000
    private static let targetHigh: UInt64 = 0x47FF_FFFE_AFFF_FFFF

    /// What a request-target may hold: no controls, no space, no non-ASCII byte, none of the
    /// characters RFC 3986 excludes from URIs.
    @inline(__always) package static func isTarget(_ b: UInt8) -> Bool { test(b, targetLow, targetHigh) }

    /// What a Host value may hold.
    @inline(__always) package static func isHost(_ b: UInt8) -> Bool { test(b, hostLow, hostHigh) }

    @inline(__always) package static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }
}
