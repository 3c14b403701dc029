import CSidecarTLS
import Glibc
import SidecarPosix

/// One connection's TLS (OpenSSL's `SSL`), on a non-blocking socket. The handshake runs inside
/// the first reads and writes (or `handshake()`); a call that cannot go on says which readiness
/// it waits for. Used on its connection's loop only.
package final class TLSSession: @unchecked Sendable {
    // @unchecked: confined to the loop that owns its connection, as the connection is.
    private let ssl: OpaquePointer
    /// The last call stopped because the socket would not take more (a handshake flight, or a
    /// record, that did not fit): wait for writability, then call it again.
    package private(set) var wantsWritable = false

    init(_ ssl: OpaquePointer) { self.ssl = ssl }

    deinit { csidecar_tls_free(ssl) }

    /// The peer presented a certificate that verified.
    package var peerVerified: Bool { csidecar_tls_peer_verified(ssl) == 1 }

    /// Decrypted bytes into `buffer`: `.done(0)` at the peer's end.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try result(csidecar_tls_read(ssl, buffer.baseAddress, buffer.count), "SSL_read")
    }

    /// Encrypts and sends what the socket takes of `bytes` (a partial count, or would-block).
    package func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        guard !bytes.isEmpty else { return .done(0) }
        return try result(csidecar_tls_write(ssl, bytes.baseAddress, bytes.count), "SSL_write")
    }

    /// Runs the handshake: `.done(())` once it is complete.
    package func handshake() throws(SystemError) -> IOResult<Void> {
        let r = csidecar_tls_handshake(ssl)
        if r == 1 {
            wantsWritable = false
            return .done(())
        }
        switch try result(Int(r), "SSL_do_handshake") {
        case .done: return .done(())
        case .wouldBlock: return .wouldBlock
        }
    }

    /// The session to resume a later connection to the same node with, when there is one (in
    /// TLS 1.3, once the server's ticket has arrived: after the first answer).
    package func resumable() -> TLSResumption? { csidecar_tls_resumable(ssl).map { TLSResumption($0) } }

    /// Offers `resumption` to the next handshake.
    package func resume(_ resumption: TLSResumption) { _ = csidecar_tls_resume(ssl, resumption.session) }

    /// The handshake resumed a session.
    package var resumed: Bool { csidecar_tls_resumed(ssl) == 1 }

    /// Sends close_notify, once the handshake is done (no wait for the peer's).
    package func shutdown() { csidecar_tls_shutdown(ssl) }

    /// Why the last call failed (for logs and `tls` failures).
    package var failureReason: String {
        var reason = [CChar](repeating: 0, count: 384)
        reason.withUnsafeMutableBufferPointer { csidecar_tls_last_error(ssl, $0.baseAddress, $0.count) }
        return String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func result(_ r: Int, _ call: String) throws(SystemError) -> IOResult<Int> {
        if r >= 0 {
            wantsWritable = false
            return .done(r)
        }
        switch Int32(r) {
        case CSIDECAR_TLS_WANT_READ.rawValue:
            wantsWritable = false
            return .wouldBlock
        case CSIDECAR_TLS_WANT_WRITE.rawValue:
            wantsWritable = true
            return .wouldBlock
        default:
            throw SystemError(call, errno: EPROTO)
        }
    }
}

/// A TLS session a client keeps to resume its next connection to a node (OpenSSL's
/// `SSL_SESSION`, immutable once made).
package final class TLSResumption: @unchecked Sendable {
    // @unchecked: OpenSSL does not change a session once its handshake is over.
    let session: OpaquePointer

    init(_ session: OpaquePointer) { self.session = session }

    deinit { csidecar_tls_session_free(session) }
}
