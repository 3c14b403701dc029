import CSidecarSystem
import Glibc

/// The receiving end of `NOTIFY_SOCKET` (sd_notify(3)): a datagram socket whose messages come
/// with the sender's pid, read from the kernel's credentials (a worker cannot claim another's).
package final class NotifySocket {
    package let fd: Int32
    /// The path workers send to.
    package let path: String

    /// Binds at `path`: `@name` in the abstract namespace (no file, nothing to clean up, works on
    /// a read-only file system; visible in the network namespace), else a file (an old one there
    /// is replaced).
    package init(path: String) throws(SystemError) {
        fd = try syscallChecked("bind \(path)") { csidecar_notify_socket(path) }
        self.path = path
    }

    /// A name in the abstract namespace no other process picks: two sidecars sharing a network
    /// namespace (a pod) may both be PID 1 of their own pid namespace.
    package static func uniqueAbstractPath() -> String {
        "@cluster-sidecar-\(getpid())-\(String(csidecar_random64() & 0xFFFF_FFFF, radix: 16)).notify"
    }

    deinit {
        close(fd)
        if !path.hasPrefix("@") { unlink(path) }
    }

    /// One waiting message: the sender's pid (0 when unknown) and its `KEY=value` lines; nil
    /// when none waits.
    package func receive() -> (sender: pid_t, fields: [(String, String)])? {
        var buffer = [CChar](repeating: 0, count: 4096)
        var sender: Int32 = 0
        let n = buffer.withUnsafeMutableBufferPointer { csidecar_recv_notify(fd, $0.baseAddress, UInt($0.count), &sender) }
        guard n >= 0 else { return nil }
        let text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (sender, Self.parse(text))
    }

    /// `KEY=value` lines (sd_notify's format); other lines are ignored.
    package static func parse(_ text: String) -> [(String, String)] {
        text.split(separator: "\n").compactMap { line in
            guard let eq = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<eq]), String(line[eq...].dropFirst()))
        }
    }
}

/// The worker's side of socket activation and readiness (sd_listen_fds(3), sd_notify(3)).
package enum SocketActivation {
    /// fd 3 when `LISTEN_FDS` passes at least one socket to this very process (`LISTEN_PID`).
    package static func listener(environment: [String: String]) -> Int32? {
        guard let count = environment["LISTEN_FDS"].flatMap({ Int($0) }), count >= 1,
            environment["LISTEN_PID"].flatMap({ pid_t($0) }) == getpid()
        else { return nil }
        return 3
    }

    /// Sends `fields` (`READY=1`, `STATUS=...`) to `NOTIFY_SOCKET`; false when there is none
    /// or the send failed.
    @discardableResult
    package static func notify(_ fields: String, environment: [String: String]) -> Bool {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        return csidecar_notify_send(path, fields) == 0
    }
}
