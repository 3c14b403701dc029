import CSidecarSystem
import Glibc
import Logging
import SidecarHTTP
import SidecarPosix
import Synchronization

/// A swift-log handler that writes one JSON object per line to a file descriptor
/// (stdout by default): `{"time","level","message","label",...metadata}`.
///
/// Each line is written with a single write(2), so lines from several threads never interleave.
struct JSONLogHandler: LogHandler {
    /// Shared by every logger made from one bootstrap, so that a reload changes them all.
    private let level: LogLevelSwitch
    package var logLevel: Logger.Level {
        get { level.level }
        set { level.level = newValue }
    }
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let fd: Int32

    /// A handler for `label` writing to `fd` at `level` and above.
    package init(label: String, level: Logger.Level = .info, fd: Int32 = 1) {
        self.init(label: label, level: LogLevelSwitch(level), fd: fd)
    }

    /// A handler whose level is `level`'s, now and after it changes.
    init(label: String, level: LogLevelSwitch, fd: Int32 = 1) {
        self.label = label
        self.level = level
        self.fd = fd
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "{\"time\":\(JSON.quote(Self.timestamp())),\"level\":\(JSON.quote(event.level.rawValue)),"
        line += "\"message\":\(JSON.quote(event.message.description)),\"label\":\(JSON.quote(label))"
        for key in merged.keys.sorted() {
            line += ",\(JSON.quote(key)):\(Self.encode(merged[key]!))"
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n > 0 {
                    off += n
                } else if n < 0 && csidecar_errno() == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    private static func encode(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return JSON.quote(s)
        case .stringConvertible(let c): return JSON.quote(c.description)
        case .array(let a): return "[" + a.map(encode).joined(separator: ",") + "]"
        case .dictionary(let d):
            return "{" + d.keys.sorted().map { "\(JSON.quote($0)):\(encode(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// ISO 8601 UTC with milliseconds: `2026-11-23T07:51:25.123Z`.
    static func timestamp() -> String {
        var seconds: Int64 = 0
        var nanos = 0
        csidecar_realtime(&seconds, &nanos)
        return ISO8601.format(epochSeconds: seconds, milliseconds: nanos / 1_000_000)
    }
}

/// The log level of every logger of one bootstrap, changed at run time by a reload.
final class LogLevelSwitch: Sendable {
    private let raw: Atomic<UInt8>
    private static let levels = Logger.Level.allCases

    init(_ level: Logger.Level) { raw = Atomic(UInt8(Self.levels.firstIndex(of: level)!)) }

    var level: Logger.Level {
        get { Self.levels[Int(raw.load(ordering: .relaxed))] }
        set { raw.store(UInt8(Self.levels.firstIndex(of: newValue)!), ordering: .relaxed) }
    }
}
