/// A request's `x-correlation-id`: the one it carried, or a random UUID v4 made for it.
///
/// A made id stays two integers until someone asks for its text, so answering a request
/// that nobody logs costs no string: the writer puts the hex digits straight on the wire.
package struct CorrelationID: Sendable, CustomStringConvertible {
    /// The id as carried, or nil for a made one (then `a` and `b` are its bits). A struct, not
    /// an enum of the two: an optional id then needs no out-of-line tag handling.
    private let given: String?
    private let a: UInt64
    private let b: UInt64

    /// The id a request carried, if it is 1-128 visible ASCII characters.
    package init?(given s: String) {
        guard !s.isEmpty, s.utf8.count <= 128, s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        given = s
        a = 0
        b = 0
    }

    /// A new id from 128 random bits (set to the UUID v4 layout).
    package init(random a: UInt64, _ b: UInt64) {
        given = nil
        self.a = a
        self.b = b
    }

    /// The placeholder of a request before `CorrelationMiddleware` ran (all zero bits).
    package static let unset = CorrelationID(random: 0, 0)

    package var description: String {
        if let given { return given }
        var out: [UInt8] = []
        out.reserveCapacity(36)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the id's text to `out`.
    package func write(into out: inout [UInt8]) {
        if let given { return out.append(contentsOf: given.utf8) }
        withMadeText(prefix: 0) { out.append(contentsOf: $0) }
    }

    /// Appends `x-correlation-id: <id>` and CRLF to `out`, in one copy for a made id.
    package func writeField(into out: inout [UInt8]) {
        guard given == nil else {
            out.append(contentsOf: Self.fieldName)
            write(into: &out)
            out.append(0x0D)
            out.append(0x0A)
            return
        }
        withMadeText(prefix: 18) { line in
            // The name before the id (three stores) and CRLF after it, in the same buffer.
            line.storeBytes(of: UInt64(0x6c65_7272_6f63_2d78).littleEndian, toByteOffset: 0, as: UInt64.self)  // "x-correl"
            line.storeBytes(of: UInt64(0x6469_2d6e_6f69_7461).littleEndian, toByteOffset: 8, as: UInt64.self)  // "ation-id"
            line.storeBytes(of: UInt16(0x203a).littleEndian, toByteOffset: 16, as: UInt16.self)  // ": "
            out.append(contentsOf: UnsafeRawBufferPointer(line))
        }
    }

    private static let fieldName: [UInt8] = Array("x-correlation-id: ".utf8)

    /// Calls `body` with a buffer of `prefix` bytes left for the caller, the id's 36 characters,
    /// and (when `prefix` > 0) CRLF. Eight hex digits a store, the dashes and the version and
    /// variant digits over them: no loop, no branch per digit (random nibbles make a per-digit
    /// branch mispredict half the time).
    @inline(__always)
    private func withMadeText(prefix: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { raw in
            let w0 = Self.hex8(UInt32(truncatingIfNeeded: a)).littleEndian
            let w1 = Self.hex8(UInt32(truncatingIfNeeded: a >> 32)).littleEndian
            let w2 = Self.hex8(UInt32(truncatingIfNeeded: b)).littleEndian
            let w3 = Self.hex8(UInt32(truncatingIfNeeded: b >> 32)).littleEndian
            let p = prefix
            raw.storeBytes(of: w0, toByteOffset: p, as: UInt64.self)
            raw.storeBytes(of: 0x2D, toByteOffset: p + 8, as: UInt8.self)
            raw.storeBytes(of: UInt32(truncatingIfNeeded: w1), toByteOffset: p + 9, as: UInt32.self)
            raw.storeBytes(of: 0x2D, toByteOffset: p + 13, as: UInt8.self)
            raw.storeBytes(of: UInt32(truncatingIfNeeded: w1 >> 32), toByteOffset: p + 14, as: UInt32.self)
            raw.storeBytes(of: 0x2D, toByteOffset: p + 18, as: UInt8.self)
            raw.storeBytes(of: UInt32(truncatingIfNeeded: w2), toByteOffset: p + 19, as: UInt32.self)
            raw.storeBytes(of: 0x2D, toByteOffset: p + 23, as: UInt8.self)
            raw.storeBytes(of: UInt32(truncatingIfNeeded: w2 >> 32), toByteOffset: p + 24, as: UInt32.self)
            raw.storeBytes(of: w3, toByteOffset: p + 28, as: UInt64.self)
            raw.storeBytes(of: 0x34, toByteOffset: p + 14, as: UInt8.self)  // version 4
            raw.storeBytes(of: Self.variantDigit(b), toByteOffset: p + 19, as: UInt8.self)  // variant 10xx
            var end = p + 36
            if prefix > 0 {
                raw.storeBytes(of: 0x0A0D, toByteOffset: end, as: UInt16.self)
                end += 2
            }
            body(UnsafeMutableRawBufferPointer(rebasing: raw[0..<end]))
        }
    }

    /// `8`, `9`, `a` or `b` from the low bits of `b`.
    @inline(__always)
    private static func variantDigit(_ b: UInt64) -> UInt8 {
        let v = UInt8(truncatingIfNeeded: b & 3)
        return v < 2 ? 0x38 &+ v : 0x61 &+ v &- 2
    }

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
