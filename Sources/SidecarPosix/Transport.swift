/// How a connection's bytes cross its socket: the one seam between the server's and the
/// client's shells and the wire. Both shells read, write, shut down and close through it and
/// never call `Socket` for a connection's bytes, so a transport that encrypts (TLS: a case
/// holding its session, whose reads and writes may also need the other readiness) slots in
/// here without touching the HTTP code. An enum, not a protocol: the plain case costs a switch
/// the compiler removes, not a dynamic call per read.
package enum Transport: Sendable {
    /// Bytes as they are, on the socket itself.
    case plain

    /// Reads what has arrived into `buffer`: `.done(0)` at the peer's end.
    @inline(__always)
    package func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        switch self {
        case .plain: try Socket.read(fd, buffer)
        }
    }

    /// Writes what the socket takes of `bytes`.
    @inline(__always)
    package func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        switch self {
        case .plain: try Socket.write(fd, bytes)
        }
    }

    /// Writes `parts` one after the other, leaving out their first `skip` bytes (sent before).
    @inline(__always)
    package func write(
        _ fd: Int32, gathering parts: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer), skipping skip: Int
    ) throws(SystemError) -> IOResult<Int> {
        switch self {
        case .plain: try Socket.sendGathered(fd, parts, skipping: skip)
        }
    }

    /// Ends our sending side once everything queued has gone.
    package func shutdownWrite(_ fd: Int32) {
        switch self {
        case .plain: Socket.shutdownWrite(fd)
        }
    }

    /// Closes the connection's socket.
    package func close(_ fd: Int32) {
        switch self {
        case .plain: Socket.close(fd)
        }
    }
}
