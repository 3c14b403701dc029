import CSidecarSystem
import Glibc

/// An IPv4 or IPv6 socket address parsed from numeric text (no name resolution).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Sendable, Hashable {
        case v4(host: String, port: UInt16)
        case v6(host: String, port: UInt16)
    }

    let storage: Storage

    /// Parses `host` (`127.0.0.1`, `::1`, `[::1]`, `localhost`) and `port`; nil if not numeric.
    public init?(host: String, port: UInt16) {
        var h = host
        if h == "localhost" { h = "127.0.0.1" }
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        var a4 = in_addr()
        var a6 = in6_addr()
        if inet_pton(AF_INET, h, &a4) == 1 {
            storage = .v4(host: h, port: port)
        } else if inet_pton(AF_INET6, h, &a6) == 1 {
            storage = .v6(host: h, port: port)
        } else {
            return nil
        }
    }

    public var host: String {
        switch storage {
        case .v4(let h, _), .v6(let h, _): h
        }
    }

    public var port: UInt16 {
        switch storage {
        case .v4(_, let p), .v6(_, let p): p
        }
    }

    /// The same address with another port.
    public func with(port: UInt16) -> SocketAddress {
        SocketAddress(host: host, port: port)!
    }

    /// `127.0.0.1:8461` or `[::1]:8461`.
    public var description: String {
        switch storage {
        case .v4(let h, let p): "\(h):\(p)"
        case .v6(let h, let p): "[\(h)]:\(p)"
        }
    }

    package var family: Int32 {
        switch storage {
        case .v4: AF_INET
        case .v6: AF_INET6
        }
    }

    /// Calls `body` with a sockaddr for this address.
    package func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch storage {
        case .v4(let h, let p):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = p.bigEndian
            _ = inet_pton(AF_INET, h, &sa.sin_addr)
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6(let h, let p):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = p.bigEndian
            _ = inet_pton(AF_INET6, h, &sa.sin6_addr)
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }
}
