import CSidecarSystem
import Glibc

/// A failed system call: which call, and its errno. Carries no payload beyond those.
package struct SystemError: Error, Sendable, CustomStringConvertible {
    /// The call that failed (`bind`, `accept4`, ...).
    package let call: String
    /// The errno it left.
    package let errno: Int32

    package init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// True for EADDRINUSE.
    package var isAddressInUse: Bool { errno == EADDRINUSE }

    package var description: String {
        "\(call): \(String(cString: strerror(errno)))"
    }
}

/// The result of a non-blocking call: done, or "would block" (EAGAIN), which is no error.
package enum IOResult<T> {
    case done(T)
    case wouldBlock
}

/// Runs `body` until it does not fail with EINTR; EAGAIN becomes `.wouldBlock`.
@inline(__always)
package func syscall<T: BinaryInteger>(_ name: String, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let r = body()
        if r >= 0 { return .done(r) }
        let e = csidecar_errno()
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
        throw SystemError(name, errno: e)
    }
}

/// Runs a blocking-style call that must succeed, retrying EINTR.
@inline(__always)
@discardableResult
package func syscallChecked<T: BinaryInteger>(_ name: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = csidecar_errno()
        if e == EINTR { continue }
        throw SystemError(name, errno: e)
    }
}
