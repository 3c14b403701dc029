import Glibc

/// `PID_FILE`: written once the listeners are bound, removed when the process exits, however
/// it exits (clean shutdown, a second signal, a fatal error after start-up).
enum PidFile {
    /// The path to remove at exit; set once, before `atexit` can run.
    nonisolated(unsafe) private static var written: [CChar]?

    /// Writes our pid to `path`, or exits 1 naming the file.
    static func write(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let text = "\(getpid())\n"
        guard fd >= 0, text.withCString({ Glibc.write(fd, $0, strlen($0)) }) == text.utf8.count else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            Environment.fail("PID_FILE: cannot write '\(path)': \(reason)", status: ExitStatus.startup)
        }
        close(fd)
        written = path.utf8CString.map { $0 }
        atexit { PidFile.remove() }
    }

    /// Removes the file written, if any.
    static func remove() {
        guard let path = written else { return }
        written = nil
        _ = path.withUnsafeBufferPointer { unlink($0.baseAddress!) }
    }
}
