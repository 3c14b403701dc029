import CSidecarSystem

/// The kernel's stats of a listening socket shared with workers.
package enum ListenerSocketStats {
    /// Connections waiting in the accept queue, and the queue's size.
    package static func acceptQueue(_ fd: Int32) -> (waiting: Int, backlog: Int)? {
        var queued: UInt32 = 0
        var backlog: UInt32 = 0
        guard csidecar_listen_queue(fd, &queued, &backlog) == 0 else { return nil }
        return (Int(queued), Int(backlog))
    }

    /// Established connections whose local port is `port`, from `/proc/net/tcp` and `tcp6`.
    package static func established(port: UInt16) -> Int {
        ["/proc/net/tcp", "/proc/net/tcp6"].reduce(0) { $0 + countEstablished(ProcFile.read($1) ?? "", port: port) }
    }

    /// Counts the rows of a `/proc/net/tcp` table in state ESTABLISHED (01) on local `port`.
    package static func countEstablished(_ table: String, port: UInt16) -> Int {
        let suffix = ":" + String(port, radix: 16, uppercase: true).leftPadded(to: 4)
        var count = 0
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 3, fields[3] == "01", fields[1].hasSuffix(suffix) else { continue }
            count += 1
        }
        return count
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
