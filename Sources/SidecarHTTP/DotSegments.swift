/// Removal of `.` and `..` path segments (RFC 3986 §5.2.4), escaped dots included, for routing.
enum DotSegments {
    /// `path` without dot segments; nil when `..` would climb above the root (nginx answers 400).
    /// Paths without a dot segment come back unchanged. The parser calls it only for a path
    /// that holds a `.` or a `%` (it looks while it scans the target).
    static func remove(_ path: String) -> String? {
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

    /// 1 for a `.` segment, 2 for `..` (also written with `%2e`), nil otherwise.
    private static func kind(_ s: Substring) -> Int? {
        switch s.lowercased() {
        case ".", "%2e": 1
        case "..", ".%2e", "%2e.", "%2e%2e": 2
        default: nil
        }
    }
}
