/// Removal of `.` and `..` path segments (RFC 3986 §5.2.4), escaped dots included, for routing.
enum DotSegments {
    /// `path` without dot segments; nil when `..` would climb above the root (nginx answers 400).
    /// Paths without a dot segment come back unchanged (the common case allocates nothing).
    static func remove(_ path: String) -> String? {
        guard mayHoldDotSegment(path) else { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard segments.contains(where: { kind($0) != nil }) else { return path }
        var out: [Substring] = []
        for (k, segment) in segments.enumerated() {
            switch kind(segment) {
            case 1?:
                if k == segments.count - 1 { out.append("") }
            case 2?:
                guard !out.isEmpty else { return nil }
                out.removeLast()
                if k == segments.count - 1 { out.append("") }
            default:
                out.append(segment)
            }
        }
        return "/" + out.joined(separator: "/")
    }

    /// Whether `path` holds a `.` or a `%` (so perhaps a dot segment), in one pass over its
    /// bytes in place (`UTF8View.contains` goes through the generic iterator: ten times slower).
    private static func mayHoldDotSegment(_ path: String) -> Bool {
        path.utf8.withContiguousStorageIfAvailable { bytes in
            var seen: UInt8 = 0
            for byte in bytes { seen |= (byte == 0x2E ? 1 : 0) | (byte == 0x25 ? 1 : 0) }
            return seen != 0
        } ?? true
    }

    /// 1 for a `.` segment, 2 for `..` (also written with `%2e`), nil otherwise.
    private static func kind(_ s: Substring) -> Int? {
        switch s.lowercased() {
        case ".", "%2e": 1
        case "..", ".%2e", "%2e.", "%2e%2e": 2
        default: nil
        }
    }
}
