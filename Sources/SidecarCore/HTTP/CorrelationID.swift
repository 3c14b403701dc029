/// A request's `x-correlation-id`: the one it carried, or a random UUID v4 made for it.
///
/// A made id stays two integers until someone asks for its text, so answering a request
/// that nobody logs costs no string: the writer puts the hex digits straight on the wire.
public struct CorrelationID: Sendable, CustomStringConvertible {
    private enum Storage: Sendable {
        case given(String)
        case random(UInt64, UInt64)
    }

    private let storage: Storage

    /// The id a request carried, if it is 1-128 visible ASCII characters.
    public init?(given s: String) {
        guard !s.isEmpty, s.utf8.count <= 128, s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        storage = .given(s)
    }

    /// A new id from 128 random bits (set to the UUID v4 layout).
    public init(random a: UInt64, _ b: UInt64) {
        storage = .random(a, b)
    }

    public var description: String {
        switch storage {
        case .given(let s): return s
        case .random:
            var out: [UInt8] = []
            out.reserveCapacity(36)
            write(into: &out)
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Appends the id's text to `out`.
    func write(into out: inout [UInt8]) {
        switch storage {
        case .given(let s):
            out.append(contentsOf: s.utf8)
        case .random(let a, let b):
            for i in 0..<32 {
                if i == 8 || i == 12 || i == 16 || i == 20 { out.append(0x2D) }
                var nibble = UInt8(truncatingIfNeeded: ((i < 16 ? a : b) >> UInt64((i % 16) * 4)) & 0xF)
                if i == 12 { nibble = 4 }
                if i == 16 { nibble = 8 | (nibble & 3) }
                out.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
            }
        }
    }
}
