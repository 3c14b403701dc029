import Glibc

/// The host's addresses, for the default `CLUSTER_URL` and (under `run`) `SERVER_URL`.
package enum HostAddress {
    /// `http://<host>:<port>` for a bound address: its own host, or the host's first
    /// non-loopback IPv4 address (else 127.0.0.1) for a wildcard; IPv6 in brackets.
    package static func httpURL(reaching address: SocketAddress) -> String { url(reaching: address, tls: false) }

    /// The same, `https://` for a listener that speaks TLS.
    package static func url(reaching address: SocketAddress, tls: Bool) -> String {
        let host = ["0.0.0.0", "::"].contains(address.host) ? primaryIPv4() ?? "127.0.0.1" : address.host
        let scheme = tls ? "https" : "http"
        return host.contains(":") ? "\(scheme)://[\(host)]:\(address.port)" : "\(scheme)://\(host):\(address.port)"
    }

    /// The first non-loopback IPv4 address of an interface that is up, or nil.
    package static func primaryIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            let flags = Int32(bitPattern: entry.pointee.ifa_flags)
            guard let addr = entry.pointee.ifa_addr, Int32(addr.pointee.sa_family) == AF_INET,
                flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0
            else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var a = sin.pointee.sin_addr
                return inet_ntop(AF_INET, &a, &text, socklen_t(INET_ADDRSTRLEN)) != nil
            }
            if ok { return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return nil
    }
}
