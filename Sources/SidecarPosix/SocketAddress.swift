import CSidecarSystem
import Glibc

/// An IPv4 or IPv6 socket address parsed from numeric text (no name resolution).
package struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Sendable, Hashable {
        case v4(host: String, port: UInt16)
        case v6(host: String, port: UInt16)
    }

    let storage: Storage
    /// The address as read (network order; IPv4 in the first 4 bytes of `first`): what
    /// equality, hashing and `withSockAddr` use, so none of them reads the text again.
    private let first: UInt64
    private let second: UInt64

    /// Parses `host` (`127.0.0.1`, `::1`, `[::1]`, `localhost`) and `port`; nil if not numeric.
    package init?(host: String, port: UInt16) {
        var h = host
        if h == "localhost" { h = "127.0.0.1" }
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        var a4 = in_addr()
        var a6 = in6_addr()
        if inet_pton(AF_INET, h, &a4) == 1 {
            storage = .v4(host: h, port: port)
            first = UInt64(a4.s_addr)
            second = 0
        } else if inet_pton(AF_INET6, h, &a6) == 1 {
            storage = .v6(host: h, port: port)
            (first, second) = withUnsafeBytes(of: a6) {
                ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        } else {
            return nil
        }
    }

    /// Equal when family, address and port are (`::1` and `0::1` alike).
    package static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        a.first == b.first && a.second == b.second && a.port == b.port && a.family == b.family
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(first)
        hasher.combine(second)
        hasher.combine(UInt32(port) << 8 | UInt32(family))
    }

    package var host: String {
        switch storage {
        case .v4(let h, _), .v6(let h, _): h
        }
    }

    package var port: UInt16 {
        switch storage {
        case .v4(_, let p), .v6(_, let p): p
        }
    }

    /// The address in 16 bytes, an IPv4 one mapped into IPv6 (`::ffff:a.b.c.d`): one spelling
    /// for comparisons (`::1` and `0::1`, `127.0.0.1` and `::ffff:127.0.0.1`).
    private var mapped: [UInt8] {
        var a4 = in_addr()
        var a6 = in6_addr()
        if inet_pton(AF_INET, host, &a4) == 1 {
            return Array(repeating: 0, count: 10) + [0xFF, 0xFF] + withUnsafeBytes(of: a4) { Array($0) }
        }
        _ = inet_pton(AF_INET6, host, &a6)
        return withUnsafeBytes(of: a6) { Array($0) }
    }

    private static func isMappedV4(_ b: [UInt8]) -> Bool { b[0..<10].allSatisfy { $0 == 0 } && b[10] == 0xFF && b[11] == 0xFF }

    /// 127.0.0.0/8 or ::1 (mapped forms included).
    package var isLoopback: Bool {
        let b = mapped
        if Self.isMappedV4(b) { return b[12] == 127 }
        return b[0..<15].allSatisfy { $0 == 0 } && b[15] == 1
    }

    /// 0.0.0.0 or :: (a wildcard listener).
    package var isUnspecified: Bool {
        let b = mapped
        return Self.isMappedV4(b) ? b[12...].allSatisfy { $0 == 0 } : b.allSatisfy { $0 == 0 }
    }

    /// Whether both name the same address, however written, ports aside.
    package func sameHost(as other: SocketAddress) -> Bool { mapped == other.mapped }

    /// The same address with another port.
    package func with(port: UInt16) -> SocketAddress {
        SocketAddress(host: host, port: port)!
    }

    /// `127.0.0.1:8461` or `[::1]:8461`.
    package var description: String {
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
        case .v4(_, let p):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = p.bigEndian
            sa.sin_addr.s_addr = UInt32(truncatingIfNeeded: first)
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6(_, let p):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = p.bigEndian
            withUnsafeMutableBytes(of: &sa.sin6_addr) {
                $0.storeBytes(of: first, as: UInt64.self)
                $0.storeBytes(of: second, toByteOffset: 8, as: UInt64.self)
            }
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }
}
