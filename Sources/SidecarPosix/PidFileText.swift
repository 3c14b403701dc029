import CSidecarSystem
import Glibc

/// A pid file's content: the pid and a newline, written whole (`PID_FILE`, `APP_PID_DIR`).
package enum PidFileText {
    /// Writes `pid` to `path` (created or emptied, mode 0644). Returns nil, or the errno.
    package static func write(_ pid: pid_t, to path: String) -> Int32? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return csidecar_errno() }
        defer { close(fd) }
        let text = "\(pid)\n"
        return text.withCString({ Glibc.write(fd, $0, strlen($0)) }) == text.utf8.count ? nil : csidecar_errno()
    }
}
