import CSidecarTLS
import Glibc
import Synchronization

/// The lowest TLS version a context speaks (`TLS_MIN_VERSION`).
package enum TLSVersion: String, Sendable, CaseIterable {
    case v1_2 = "1.2"
    case v1_3 = "1.3"

    var code: Int32 { self == .v1_2 ? 12 : 13 }
}

/// Why a context could not be made: which of its files (or settings) is at fault, and why.
package struct TLSFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The part at fault, for the caller to name its setting.
    package enum Part: Sendable, Equatable {
        case certificate, key, clientCA, trustedCA, allowedSANs, library
    }

    package let part: Part
    package let reason: String

    package init(_ part: Part, _ reason: String) {
        self.part = part
        self.reason = reason
    }

    package var description: String { reason }
}

/// An OpenSSL context (`SSL_CTX`): what every session made from it shares (certificate, key,
/// trust, versions, suites, ticket keys). Immutable once made; sessions keep their context alive
/// (OpenSSL counts them), so a replaced one lives on until its last connection closes.
package final class TLSContext: @unchecked Sendable {
    // @unchecked: an SSL_CTX is not changed after it is made, and OpenSSL allows sessions to be
    // made from it on any thread.
    let pointer: OpaquePointer

    private init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { csidecar_tls_context_free(pointer) }

    /// The cluster listener's context: the chain and key (checked: parsable, matching, not
    /// expired); with `clientCA`, client certificates are asked for and verified, and with
    /// `allowedSANs` the leaf must carry one of them (DNS name, IP address or URI, exactly).
    package static func server(
        certificate: String, key: String, clientCA: String?, allowedSANs: [String], minimum: TLSVersion
    ) throws(TLSFailure) -> TLSContext {
        try make { part, reason, size in
            withCStrings(allowedSANs) { sans in
                csidecar_tls_server_context(certificate, key, clientCA, sans, Int32(allowedSANs.count), minimum.code, part, reason, size)
            }
        }
    }

    /// A client context: verification against `trustedCA` (nil: the system's store), and the
    /// client certificate when both `certificate` and `key` are given.
    package static func client(trustedCA: String?, certificate: String?, key: String?, minimum: TLSVersion) throws(TLSFailure)
        -> TLSContext
    {
        try make { part, reason, size in csidecar_tls_client_context(trustedCA, certificate, key, minimum.code, part, reason, size) }
    }

    /// A client session on the connected socket `fd`, for `host`: SNI for a name, and the name
    /// or address its certificate must carry. nil when OpenSSL cannot make one.
    package func connecting(fd: Int32, host: String) -> TLSSession? {
        csidecar_tls_connecting(pointer, fd, host).map { TLSSession($0) }
    }

    private static func make(
        _ body: (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?
    ) throws(TLSFailure) -> TLSContext {
        var part: Int32 = 0
        var reason = [CChar](repeating: 0, count: 512)
        let made = reason.withUnsafeMutableBufferPointer { buffer in body(&part, buffer.baseAddress!, buffer.count) }
        guard let made else {
            let text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TLSFailure(Self.part(part), text.isEmpty ? "OpenSSL refused the settings" : text)
        }
        return TLSContext(made)
    }

    private static func part(_ code: Int32) -> TLSFailure.Part {
        switch code {
        case Int32(CSIDECAR_TLS_CERT.rawValue): .certificate
        case Int32(CSIDECAR_TLS_KEY.rawValue): .key
        case Int32(CSIDECAR_TLS_CLIENT_CA.rawValue): .clientCA
        case Int32(CSIDECAR_TLS_CA.rawValue): .trustedCA
        case Int32(CSIDECAR_TLS_SANS.rawValue): .allowedSANs
        default: .library
        }
    }
}

/// `strings` as a C array of C strings for the length of `body`.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    let pointers = copies.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// The cluster listener's TLS: the context new connections get, replaced whole at a rotation
/// (connections already open keep theirs).
package final class TLSListener: Sendable {
    private let current: Mutex<TLSContext>
    /// A client CA is set: a connection without a verified client certificate may only probe.
    package let requiresClientCertificate: Bool

    package init(_ context: TLSContext, requiresClientCertificate: Bool) {
        current = Mutex(context)
        self.requiresClientCertificate = requiresClientCertificate
    }

    /// New handshakes use `context` from now on.
    package func replace(with context: TLSContext) { current.withLock { $0 = context } }

    /// A server session on the accepted socket `fd`, or nil when OpenSSL cannot make one.
    package func session(fd: Int32) -> TLSSession? {
        let context = current.withLock { $0 }
        return csidecar_tls_accepting(context.pointer, fd).map { TLSSession($0) }
    }
}

/// Our own client's TLS: the context new connections get, replaced whole when the sidecar's
/// certificate or trust is read again (connections already open keep theirs).
package final class TLSClientContext: Sendable {
    /// A context, or how to make it on first use.
    private enum Source: Sendable {
        case made(TLSContext)
        case pending(@Sendable () throws(TLSFailure) -> TLSContext)
    }

    private let current: Mutex<Source>

    package init(_ context: TLSContext) { current = Mutex(.made(context)) }

    /// A context made when the first connection needs it. Trusting the system's CAs loads their
    /// whole bundle (about 20 ms of CPU with OpenSSL 3): a process that never calls an
    /// `https://` node never pays it. A context that cannot be made fails each connection.
    package init(makingOnFirstUse make: @escaping @Sendable () throws(TLSFailure) -> TLSContext) { current = Mutex(.pending(make)) }

    /// New connections use `context` from now on.
    package func replace(with context: TLSContext) { current.withLock { $0 = .made(context) } }

    /// A client session on the connected socket `fd`, for `host`, from the current context.
    package func connecting(fd: Int32, host: String) -> TLSSession? { context()?.connecting(fd: fd, host: host) }

    /// The current context, made now if it was not yet (under the lock: made once).
    private func context() -> TLSContext? {
        current.withLock { source in
            switch source {
            case .made(let context): return context
            case .pending(let make):
                guard let context = try? make() else { return nil }
                source = .made(context)
                return context
            }
        }
    }
}
