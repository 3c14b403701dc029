import CSidecarSystem
import Glibc

/// Thin wrappers over the socket calls the server makes. Descriptors are plain `Int32`
/// owned by whoever holds them; every call retries EINTR.
package enum Socket {
    /// Opens a non-blocking listening socket on `address`; returns it and the bound port.
    package static func listen(on address: SocketAddress, backlog: Int32, reusePort: Bool = false) throws(SystemError) -> (
        fd: Int32, port: UInt16
    ) {
        let fd = try syscallChecked("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            if address.family == AF_INET6 { try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            let rc = address.withSockAddr { sa, len in bind(fd, sa, len) }
            if rc != 0 { throw SystemError("bind", errno: csidecar_errno()) }
            try syscallChecked("listen") { Glibc.listen(fd, backlog) }
            return (fd, try boundPort(fd))
        } catch {
            close(fd)
            throw error
        }
    }

    package static func boundPort(_ fd: Int32) throws(SystemError) -> UInt16 {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        if rc != 0 { throw SystemError("getsockname", errno: csidecar_errno()) }
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { p in
            if family == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// Accepts one connection, non-blocking and close-on-exec.
    package static func accept(_ listener: Int32) throws(SystemError) -> IOResult<Int32> {
        try syscall("accept4") { csidecar_accept(listener) }
    }

    /// Opens a non-blocking socket and starts connecting it to `address`: `.done(fd)` when the
    /// connection is made at once, `.wouldBlock` never (the descriptor is returned with
    /// `inProgress` true instead: watch it for writability, then read `pendingError`).
    package static func connect(to address: SocketAddress) throws(SystemError) -> (fd: Int32, inProgress: Bool) {
        let fd = try syscallChecked("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        setNoDelay(fd)
        while true {
            let rc = address.withSockAddr { sa, len in Glibc.connect(fd, sa, len) }
            if rc == 0 { return (fd, false) }
            let e = csidecar_errno()
            if e == EINTR { continue }
            if e == EINPROGRESS { return (fd, true) }
            close(fd)
            throw SystemError("connect", errno: e)
        }
    }

    /// The error a non-blocking connect ended with (SO_ERROR), or 0 when it succeeded.
    package static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) == 0 else { return csidecar_errno() }
        return value
    }

    /// Sends `parts` one after the other in one gathered write (`sendmsg`, no SIGPIPE), leaving
    /// out their first `skip` bytes (sent by an earlier call); returns the bytes sent.
    package static func sendGathered(
        _ fd: Int32, _ parts: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer), skipping skip: Int
    ) throws(SystemError) -> IOResult<Int> {
        var iov = (iovec(), iovec(), iovec())
        var count = 0
        var left = skip
        withUnsafeMutableBytes(of: &iov) { raw in
            let v = raw.bindMemory(to: iovec.self)
            func add(_ part: UnsafeRawBufferPointer) {
                guard part.count > left else {
                    left -= part.count
                    return
                }
                v[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress! + left), iov_len: part.count - left)
                count += 1
                left = 0
            }
            add(parts.0)
            add(parts.1)
            add(parts.2)
        }
        var message = msghdr()
        return try withUnsafeMutablePointer(to: &iov) { p throws(SystemError) in
            message.msg_iov = UnsafeMutableRawPointer(p).assumingMemoryBound(to: iovec.self)
            message.msg_iovlen = count
            return try syscall("sendmsg") { sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
        }
    }

    package static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var v = value
        try syscallChecked("setsockopt") { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// TCP_NODELAY: answers leave at once instead of waiting for the peer's delayed ACK.
    package static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    package static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    package static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("send") { send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    package static func shutdownWrite(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    package static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Raises the open-file limit to `wanted` (or the hard limit, if lower); returns the new soft limit.
    package static func raiseFileLimit(to wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        let target = min(rlim_t(wanted), limit.rlim_max)
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(limit.rlim_cur)
    }
}

/// Process-wide resource limits.
package enum ProcessLimits {
    /// Raises the open-file limit towards `wanted` (capped by the hard limit); returns the soft limit now in force.
    package static func raiseOpenFiles(to wanted: Int) -> Int { Socket.raiseFileLimit(to: wanted) }
}

extension Socket {
    /// A listening socket to hand to other processes (`cluster-sidecar run`'s workers): blocking,
    /// as systemd passes them (the flag is shared with every process holding it), close-on-exec
    /// here (the spawn makes it fd 3 of a worker), the largest backlog the kernel allows.
    /// `reusePort`: a later generation's socket, joining the serving one on the same port
    /// (`Supervisor+Handover`). The first is bound without, so that a port another process
    /// holds (another `run` too) is refused (`EADDRINUSE`); it allows joining afterwards
    /// (`allowReusePort`).
    package static func listenShared(on address: SocketAddress, reusePort: Bool = false) throws(SystemError) -> (
        fd: Int32, port: UInt16
    ) {
        let (fd, port) = try listen(on: address, backlog: 65535, reusePort: reusePort)
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        return (fd, port)
    }

    /// Lets our later sockets join `fd` on its port (`SO_REUSEPORT`, same user only).
    package static func allowReusePort(_ fd: Int32) throws(SystemError) { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }

    /// Steers every new connection of `fd`'s `SO_REUSEPORT` group to its socket number `index`
    /// (in joining order; past the last, the kernel's hash decides).
    package static func steer(_ fd: Int32, to index: UInt32) throws(SystemError) {
        try syscallChecked("setsockopt(SO_ATTACH_REUSEPORT_CBPF)") { csidecar_reuseport_steer(fd, index) }
    }

    /// An inherited listening socket made ready to serve: non-blocking (so that a connection
    /// another process took first does not block the loop) and close-on-exec; with its port.
    package static func adoptListener(_ fd: Int32) throws(SystemError) -> (fd: Int32, port: UInt16) {
        try syscallChecked("fcntl") { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return (fd, try boundPort(fd))
    }
}
