import CSidecarSystem
import Glibc

/// Host names to addresses through the system's resolver (`getaddrinfo`: `/etc/hosts`, then
/// DNS as `/etc/nsswitch.conf` says), IPv4 and IPv6 in the order it prefers (RFC 6724). It
/// blocks: call it from a thread of its own (`NameCache` does), never from an event loop.
package enum HostResolver {
    /// The addresses of `host` (port 0), or why there are none.
    package static func resolve(_ host: String) -> Result<[SocketAddress], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let first = list else {
            return .failure(ResolveError(message: "could not resolve \(host): \(String(cString: gai_strerror(rc)))"))
        }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let a = address(n.pointee), !out.contains(a) { out.append(a) }
            node = n.pointee.ai_next
        }
        return out.isEmpty ? .failure(ResolveError(message: "\(host) has no IPv4 or IPv6 address")) : .success(out)
    }

    /// Why a name did not resolve.
    package struct ResolveError: Error, Sendable, Equatable {
        package let message: String

        package init(message: String) { self.message = message }
    }

    private static func address(_ info: addrinfo) -> SocketAddress? {
        guard let sa = info.ai_addr else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch info.ai_family {
        case AF_INET:
            var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            guard inet_ntop(AF_INET, &a, &text, socklen_t(text.count)) != nil else { return nil }
        case AF_INET6:
            var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            guard inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil else { return nil }
        default:
            return nil
        }
        return SocketAddress(host: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: 0)
    }
}
