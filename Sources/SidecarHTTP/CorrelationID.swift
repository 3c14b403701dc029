/// A request's `x-correlation-id`: the one it carried, or a random UUID v4 made for it.
///
/// A made id stays two integers until someone asks for its text, so answering a request
/// that nobody logs costs no string: the writer puts the hex digits straight on the wire.
public struct CorrelationID: Sendable, CustomStringConvertible {
    /// The id as carried, or nil for a made one (then `a` and `b` are its bits). A struct, not
    /// an enum of the two: an optional id then needs no out-of-line tag handling.
    private let given: String?
    private let a: UInt64
    private let b: UInt64

    /// The id a request carried, if it is 1-128 visible ASCII characters.
    public init?(given s: String) {
        guard !s.isEmpty, s.utf8.count <= 128, s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        given = s
        a = 0
        b = 0
    }

    /// A new id from 128 random bits (set to the UUID v4 layout).
    public init(random a: UInt64, _ b: UInt64) {
        given = nil
        self.a = a
        self.b = b
    }

    /// The placeholder of a request before `CorrelationMiddleware` ran (all zero bits).
    public static let unset = CorrelationID(random: 0, 0)

    public var description: String {
        if let given { return given }
        var out: [UInt8] = []
        out.reserveCapacity(36)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the id's text to `out`.
    package func write(into out: inout [UInt8]) {
        if let given { return out.append(contentsOf: given.utf8) }
        // Branch-free: random nibbles make a per-digit branch mispredict half the time.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { text in
            var k = 0
            for w in 0..<4 {
                let word = Self.hex8(UInt32(truncatingIfNeeded: (w < 2 ? a : b) >> UInt64(w % 2 * 32)))
                for byte in 0..<8 {
                    let i = w * 8 + byte
                    if i == 8 || i == 12 || i == 16 || i == 20 {
                        text[k] = 0x2D
                        k += 1
                    }
                    text[k] = UInt8(truncatingIfNeeded: word >> UInt64(byte * 8))
                    k += 1
                }
            }
            text[14] = 0x34  // version 4
            text[19] = Self.variantDigits[Int(b & 3)]  // variant 10xx
            out.append(contentsOf: UnsafeBufferPointer(text))
        }
    }

    private static let variantDigits: [UInt8] = Array("89ab".utf8)

    /// The eight nibbles of `x` as lower-case hex digits, one per byte (SWAR).
    @inline(__always)
    static func hex8(_ x: UInt32) -> UInt64 {
        var v = UInt64(x)
        v = ((v & 0xFFFF_0000) << 16) | (v & 0xFFFF)
        v = ((v & 0x0000_FF00_0000_FF00) << 8) | (v & 0x0000_00FF_0000_00FF)
        v = ((v & 0x00F0_00F0_00F0_00F0) << 4) | (v & 0x000F_000F_000F_000F)
        let above9 = ((v &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        return v &+ 0x3030_3030_3030_3030 &+ above9 &* 0x27
    }
}
