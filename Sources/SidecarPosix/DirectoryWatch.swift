import Glibc

/// Watches directories for files written, moved in, created or removed (inotify), and says
/// so once a burst of changes has settled. A Kubernetes secret or cert-manager's CSI volume
/// swaps a `..data` symlink in the directory of the files, so the directory is what is
/// watched, not the file (whose inode the swap replaces). One thread of its own, blocked in
/// `poll` between changes.
package enum DirectoryWatch {
    /// Starts watching `directories`; `onChange` runs on the watch's thread after each burst
    /// (no change for `settle`). Fails when inotify or a directory cannot be watched.
    package static func start(
        _ directories: [String], settle: Duration = .milliseconds(200), onChange: @escaping @Sendable () -> Void
    ) throws(SystemError) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SystemError("inotify_init1", errno: errno) }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
        for directory in Set(directories) where inotify_add_watch(fd, directory, mask) < 0 {
            let error = SystemError("inotify_add_watch \(directory)", errno: errno)
            close(fd)
            throw error
        }
        let settleMs = Int32(max(1, settle.components.seconds * 1000 + settle.components.attoseconds / 1_000_000_000_000_000))
        PosixThread.spawn {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                guard wait(fd, timeoutMs: -1) else { continue }
                drain(fd, &buffer)
                // More may follow (a swap is several events): report once they stop.
                while wait(fd, timeoutMs: settleMs) { drain(fd, &buffer) }
                onChange()
            }
        }
    }

    private static func wait(_ fd: Int32, timeoutMs: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, timeoutMs) > 0
    }

    private static func drain(_ fd: Int32, _ buffer: inout [UInt8]) {
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
