import Glibc
import SidecarPosix

/// `PID_FILE`: written once the listeners are bound, removed when the process exits, however
/// it exits (clean shutdown, a second signal, a fatal error after start-up).
enum PidFile {
    /// The path to remove at exit; set once, before `atexit` can run.
    nonisolated(unsafe) private static var written: [CChar]?

    /// Writes our pid to `path`, or exits 1 naming the file.
    static func write(_ path: String) {
        if let error = PidFileText.write(getpid(), to: path) {
            Environment.fail("PID_FILE: cannot write '\(path)': \(String(cString: strerror(error)))", status: ExitStatus.startup)
        }
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
