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
        TCPTableRow.rows(table).count { $0.state == 0x01 && $0.localPort == port }
    }
}

/// One row of a `/proc/net/tcp` (or `tcp6`) table: the ports, the state and the queues.
package struct TCPTableRow: Sendable, Equatable {
    package var localPort: UInt16
    package var remotePort: UInt16
    /// The kernel's TCP state (01 ESTABLISHED, 0A LISTEN, ...).
    package var state: UInt8
    /// Bytes queued to send and not yet acknowledged.
    package var sendQueue: Int
    /// Bytes received and not yet read.
    package var receiveQueue: Int

    /// The rows of `table`, its header line skipped; a row that cannot be read is left out.
    package static func rows(_ table: String) -> [TCPTableRow] {
        table.split(separator: "\n").dropFirst().compactMap { line in
            // sl local_address rem_address st tx_queue:rx_queue ...
            let f = line.split(separator: " ")
            guard f.count > 4, let local = port(f[1]), let remote = port(f[2]), let state = UInt8(f[3], radix: 16) else { return nil }
            let queues = f[4].split(separator: ":")
            guard queues.count == 2, let send = Int(queues[0], radix: 16), let receive = Int(queues[1], radix: 16) else { return nil }
            return TCPTableRow(localPort: local, remotePort: remote, state: state, sendQueue: send, receiveQueue: receive)
        }
    }

    /// The port of an `address:port` field, both in hex.
    private static func port(_ field: Substring) -> UInt16? {
        field.lastIndex(of: ":").flatMap { UInt16(field[field.index(after: $0)...], radix: 16) }
    }
}
