/// Fast JSON for the fan-out's hot path: a strict validator (so a node's JSON answer can be
/// spliced into the aggregate as is, without building a tree) and a writer of JSON text.
package enum JSONText {
    /// Whether `bytes` hold exactly one JSON value (RFC 8259), surrounding whitespace allowed.
    package static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { p in
            var i = 0
            skipSpace(p, &i)
            guard value(p, &i, depth: 0) else { return false }
            skipSpace(p, &i)
            return i == p.count
        }
    }

    static let maxDepth = 256

    /// The members of a top-level JSON object in order, duplicates kept: each name decoded,
    /// each value as its bytes. Nil when `bytes` is not one valid JSON object.
    package static func objectMembers(_ bytes: [UInt8]) -> [(name: String, value: ArraySlice<UInt8>)]? {
        guard isValid(bytes) else { return nil }
        return bytes.withUnsafeBufferPointer { p -> [(name: String, value: ArraySlice<UInt8>)]? in
            var i = 0
            skipSpace(p, &i)
            guard i < p.count, p[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            skipSpace(p, &i)
            var members: [(name: String, value: ArraySlice<UInt8>)] = []
            if i < p.count, p[i] == UInt8(ascii: "}") { return members }
            while true {
                let nameStart = i
                guard string(p, &i) else { return nil }
                // The name as JSON decodes it (escapes included): `"\u0065xp"` is `exp`.
                guard case .array(let one)? = JSONValue.parse(Array("[".utf8) + Array(bytes[nameStart..<i]) + Array("]".utf8)),
                    case .string(let name)? = one.first
                else { return nil }
                skipSpace(p, &i)
                i += 1  // ':' (valid JSON)
                skipSpace(p, &i)
                let valueStart = i
                guard value(p, &i, depth: 1) else { return nil }
                members.append((name, bytes[valueStart..<i]))
                skipSpace(p, &i)
                if p[i] == UInt8(ascii: "}") { return members }
                i += 1  // ','
                skipSpace(p, &i)
            }
        }
    }

    @inline(__always) private static func skipSpace(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int) {
        while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
    }

    private static func value(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, depth: Int) -> Bool {
        guard i < p.count, depth < maxDepth else { return false }
        switch p[i] {
        case UInt8(ascii: "{"):
            i += 1
            skipSpace(p, &i)
            if i < p.count, p[i] == UInt8(ascii: "}") {
                i += 1
                return true
            }
            while true {
                guard string(p, &i) else { return false }
                skipSpace(p, &i)
                guard i < p.count, p[i] == UInt8(ascii: ":") else { return false }
                i += 1
                skipSpace(p, &i)
                guard value(p, &i, depth: depth + 1) else { return false }
                skipSpace(p, &i)
                guard i < p.count else { return false }
                if p[i] == UInt8(ascii: "}") {
                    i += 1
                    return true
                }
                guard p[i] == UInt8(ascii: ",") else { return false }
                i += 1
                skipSpace(p, &i)
            }
        case UInt8(ascii: "["):
            i += 1
            skipSpace(p, &i)
            if i < p.count, p[i] == UInt8(ascii: "]") {
                i += 1
                return true
            }
            while true {
                guard value(p, &i, depth: depth + 1) else { return false }
                skipSpace(p, &i)
                guard i < p.count else { return false }
                if p[i] == UInt8(ascii: "]") {
                    i += 1
                    return true
                }
                guard p[i] == UInt8(ascii: ",") else { return false }
                i += 1
                skipSpace(p, &i)
            }
        case UInt8(ascii: "\""):
            return string(p, &i)
        case UInt8(ascii: "t"): return literal(p, &i, "true")
        case UInt8(ascii: "f"): return literal(p, &i, "false")
        case UInt8(ascii: "n"): return literal(p, &i, "null")
        default:
            return number(p, &i)
        }
    }

    private static func literal(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= p.count else { return false }
        for k in 0..<n where p[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    private static func string(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Bool {
        guard i < p.count, p[i] == UInt8(ascii: "\"") else { return false }
        i += 1
        while i < p.count {
            let b = p[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return true
            }
            if b < 0x20 { return false }
            if b == UInt8(ascii: "\\") {
                i += 1
                guard i < p.count else { return false }
                switch p[i] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 1
                case UInt8(ascii: "u"):
                    guard i + 4 < p.count else { return false }
                    for k in 1...4 where ByteClass.hexValue(p[i + k]) == nil { return false }
                    i += 5
                default:
                    return false
                }
                continue
            }
            if b < 0x80 {
                i += 1
                continue
            }
            guard let n = utf8Length(p, i) else { return false }
            i += n
        }
        return false
    }

    /// The length of the well-formed UTF-8 sequence at `i`, or nil.
    private static func utf8Length(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        let b = p[i]
        let n: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch b {
        case 0xC2...0xDF: n = 2
        case 0xE0:
            n = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: n = 3
        case 0xED:
            n = 3
            high = 0x9F
        case 0xF0:
            n = 4
            low = 0x90
        case 0xF1...0xF3: n = 4
        case 0xF4:
            n = 4
            high = 0x8F
        default: return nil
        }
        guard i + n <= p.count else { return nil }
        guard p[i + 1] >= low && p[i + 1] <= high else { return nil }
        for k in 2..<max(2, n) where p[i + k] & 0xC0 != 0x80 { return nil }
        return n
    }

    private static func number(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Bool {
        let start = i
        if i < p.count, p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < p.count else { return false }
        if p[i] == UInt8(ascii: "0") {
            i += 1
        } else if p[i] >= 0x31 && p[i] <= 0x39 {
            while i < p.count, p[i] >= 0x30 && p[i] <= 0x39 { i += 1 }
        } else {
            return false
        }
        if i < p.count, p[i] == UInt8(ascii: ".") {
            i += 1
            let digits = i
            while i < p.count, p[i] >= 0x30 && p[i] <= 0x39 { i += 1 }
            guard i > digits else { return false }
        }
        if i < p.count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            i += 1
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            let digits = i
            while i < p.count, p[i] >= 0x30 && p[i] <= 0x39 { i += 1 }
            guard i > digits else { return false }
        }
        return i > start
    }
}

/// Writes JSON text into a byte buffer.
package struct JSONWriter {
    /// How many bytes escaping adds to `u` written as a JSON string: one for `"`, `\\`, LF, CR
    /// and tab, five for any other control byte. Branch-free, so that it runs at memory speed
    /// over a large body.
    package static func escapeExtra(_ u: UnsafeBufferPointer<UInt8>) -> Int {
        var total = 0
        var k = 0
        while k < u.count {
            // Blocks small enough for a 32-bit sum, which the compiler keeps in vector lanes.
            let end = min(u.count, k + 65536)
            var sum: UInt32 = 0
            for i in k..<end {
                let b = u[i]
                let control = UInt32(b < 0x20 ? 1 : 0)
                let short = UInt32(b == 0x0A || b == 0x0D || b == 0x09 ? 1 : 0)
                let quoted = UInt32(b == 0x22 || b == 0x5C ? 1 : 0)
                sum &+= 5 &* control &- 4 &* short &+ quoted
            }
            total += Int(sum)
            k = end
        }
        return total
    }

    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    package mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    package mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// A JSON string literal for `s`: runs that need no escape are copied whole.
    package mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { append(quoted: $0, lowercased: false) }
    }

    /// A JSON string literal for `s` with ASCII letters in lower case (header names).
    package mutating func lowercasedString(_ s: String) {
        var s = s
        s.withUTF8 { append(quoted: $0, lowercased: true) }
    }

    private mutating func append(quoted u: UnsafeBufferPointer<UInt8>, lowercased: Bool) {
        // First the room the escapes take: a string with none (the usual id, URL or header) is
        // copied whole; one with many (a node's body of control bytes) is written into room
        // made once, without a reallocation or an allocation per escape.
        let extra = JSONWriter.escapeExtra(u)
        let from = bytes.count
        guard extra > 0 else {
            bytes.append(0x22)
            bytes.append(contentsOf: u)
            if lowercased {
                bytes.withUnsafeMutableBufferPointer { p in
                    for i in (from + 1)..<p.count where p[i] >= 0x41 && p[i] <= 0x5A { p[i] |= 0x20 }
                }
            }
            bytes.append(0x22)
            return
        }
        bytes.append(contentsOf: repeatElement(0, count: u.count + extra + 2))
        bytes.withUnsafeMutableBufferPointer { out in
            let hex: StaticString = "0123456789abcdef"
            var o = from
            out[o] = 0x22
            o += 1
            for b in u {
                switch b {
                case 0x22, 0x5C:
                    out[o] = 0x5C
                    out[o + 1] = b
                    o += 2
                case 0x0A, 0x0D, 0x09:
                    out[o] = 0x5C
                    out[o + 1] = b == 0x0A ? 0x6E : b == 0x0D ? 0x72 : 0x74
                    o += 2
                case 0..<0x20:
                    out[o] = 0x5C
                    out[o + 1] = 0x75
                    out[o + 2] = 0x30
                    out[o + 3] = 0x30
                    out[o + 4] = hex.utf8Start[Int(b >> 4)]
                    out[o + 5] = hex.utf8Start[Int(b & 15)]
                    o += 6
                default:
                    out[o] = lowercased && b >= 0x41 && b <= 0x5A ? b | 0x20 : b
                    o += 1
                }
            }
            out[o] = 0x22
        }
    }

    package mutating func int(_ n: Int) {
        if n < 0 { bytes.append(0x2D) }
        digits(n.magnitude)
    }

    /// A number with at most three decimals.
    package mutating func milliseconds(_ ms: Double) {
        let thousandths = Int((ms * 1000).rounded())
        if thousandths < 0 { bytes.append(0x2D) }
        digits(thousandths.magnitude / 1000)
        var frac = thousandths.magnitude % 1000
        guard frac != 0 else { return }
        bytes.append(0x2E)
        var width = 3
        while frac % 10 == 0 {
            frac /= 10
            width -= 1
        }
        // Leading zeros of the fraction, then its significant digits.
        var scale: UInt = 1
        for _ in 1..<width { scale *= 10 }
        while scale > frac {
            bytes.append(0x30)
            scale /= 10
        }
        digits(frac)
    }

    /// Decimal digits of `n`, written without an intermediate String.
    private mutating func digits(_ n: UInt) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for UInt.max's 20 digits
        withUnsafeMutableBytes(of: &buffer) { raw in
            var i = raw.count
            var v = n
            repeat {
                i -= 1
                raw[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            } while v != 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
    }

    /// `value` encoded by JSONEncoder (for the rare non-hot values).
    package mutating func encoded<T: Encodable>(_ value: T) { bytes.append(contentsOf: JSONCoding.encode(value)) }
}
