import SidecarPosix

/// How a connection's bytes cross its socket: the one seam between the server's and the
/// client's shells and the wire. Both shells read, write, shut down and close through it and
/// never call `Socket` for a connection's bytes, so a transport that encrypts (TLS: a case
/// holding its session, whose reads and writes may also need the other readiness) slots in
/// here without touching the HTTP code. An enum, not a protocol: the plain case costs a switch
/// the compiler removes, not a dynamic call per read.
package enum Transport: Sendable {
    /// Bytes as they are, on the socket itself.
    case plain
    /// TLS over the socket (the handshake runs inside the first reads and writes).
    case tls(TLSSession)

    /// Reads what has arrived into `buffer`: `.done(0)` at the peer's end.
    @inline(__always)
    package func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        switch self {
        case .plain: try Socket.read(fd, buffer)
        case .tls(let session): try session.read(into: buffer)
        }
    }

    /// Writes what the socket takes of `bytes`.
    @inline(__always)
    package func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        switch self {
        case .plain: try Socket.write(fd, bytes)
        case .tls(let session): try session.write(bytes)
        }
    }

    /// Writes `parts` one after the other, leaving out their first `skip` bytes (sent before).
    @inline(__always)
    package func write(
        _ fd: Int32, gathering parts: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer), skipping skip: Int
    ) throws(SystemError) -> IOResult<Int> {
        switch self {
        case .plain: try Socket.sendGathered(fd, parts, skipping: skip)
        case .tls(let session): try Self.writeInTurn(session, parts, skipping: skip)
        }
    }

    /// Ends our sending side once everything queued has gone.
    package func shutdownWrite(_ fd: Int32) {
        switch self {
        case .plain: Socket.shutdownWrite(fd)
        case .tls(let session):
            session.shutdown()
            Socket.shutdownWrite(fd)
        }
    }

    /// Closes the connection's socket.
    package func close(_ fd: Int32) {
        switch self {
        case .plain, .tls: Socket.close(fd)
        }
    }

    /// The last read or write waits for the socket to take more (TLS only): ask for EPOLLOUT
    /// and call it again then.
    package var wantsWritable: Bool {
        switch self {
        case .plain: false
        case .tls(let session): session.wantsWritable
        }
    }

    /// For a TLS connection, whether its peer presented a certificate that verified.
    package var peerVerified: Bool {
        switch self {
        case .plain: false
        case .tls(let session): session.peerVerified
        }
    }

    /// TLS has no gathered write: the parts go one after the other, as far as the socket takes them.
    private static func writeInTurn(
        _ session: TLSSession, _ parts: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer), skipping skip: Int
    ) throws(SystemError) -> IOResult<Int> {
        var skip = skip
        var written = 0
        for part in [parts.0, parts.1, parts.2] {
            if skip >= part.count {
                skip -= part.count
                continue
            }
            let rest = UnsafeRawBufferPointer(rebasing: part[skip...])
            skip = 0
            switch try session.write(rest) {
            case .wouldBlock: return written > 0 ? .done(written) : .wouldBlock
            case .done(let n):
                written += n
                if n < rest.count { return .done(written) }
            }
        }
        return .done(written)
    }
}
