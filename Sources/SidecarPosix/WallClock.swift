import CSidecarSystem
import Glibc

/// Wall-clock time, for display only (log lines, `updatedAt`, ISO timestamps in `/status`).
package enum WallClock {
    /// Seconds since the epoch.
    @Sendable package static func now() -> Double {
        var s: Int64 = 0
        var ns = 0
        csidecar_realtime(&s, &ns)
        return Double(s) + Double(ns) / 1e9
    }

    /// ISO 8601 with milliseconds for `t` seconds since the epoch.
    package static func iso(_ t: Double) -> String {
        ISO8601.format(epochSeconds: Int64(t.rounded(.down)), milliseconds: Int((t - t.rounded(.down)) * 1000))
    }
}

/// ISO 8601 formatting without Foundation.
package enum ISO8601 {
    /// `2026-11-23T07:51:25.123Z` (milliseconds omitted when nil).
    package static func format(epochSeconds t: Int64, milliseconds: Int? = nil) -> String {
        var time = time_t(t)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var out = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
        out += "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if let ms = milliseconds { out += "." + pad(Int32(ms), 3) }
        return out + "Z"
    }
}
