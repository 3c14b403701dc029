import SidecarHTTP
import SidecarPosix

/// A node's `http://` or `https://` URL as our own client needs it: where to connect, whether
/// over TLS and for which name, the `Host` field and the path prefix. Only URLs it can serve
/// exactly parse: a numeric IPv4 or IPv6 address or `localhost` (127.0.0.1), an optional port
/// and path, no userinfo, query or fragment. A host name parses as a `NodeName`, an address
/// once resolved; everything else stays with libcurl.
package struct NodeAddress: Sendable, Hashable {
    /// Where to connect.
    package let address: SocketAddress
    /// The `Host` field: the host as written, with the port unless it is the scheme's (as curl sends it).
    package let host: String
    /// The URL's path without its trailing `/` (`""` for none); the fan-out's path follows it.
    package let basePath: String
    /// For `https://`, the name (or address) the node's certificate must carry, sent as SNI
    /// when it is a name; nil for `http://`.
    package let serverName: String?

    /// Reads `url` byte by byte; nil when our client does not serve it as it is.
    package init?(_ url: String) {
        guard let parts = NodeURL(url), let address = SocketAddress(host: parts.host, port: parts.port) else { return nil }
        self.init(address: address, host: parts.hostField, basePath: parts.basePath, serverName: parts.serverName)
    }

    /// A node at `address`, with `host` as its `Host` field (over TLS for `serverName`).
    package init(address: SocketAddress, host: String, basePath: String, serverName: String? = nil) {
        self.address = address
        self.host = host
        self.basePath = basePath
        self.serverName = serverName
    }

    /// What its connections are pooled by: the address, and for TLS the name they were made for.
    package var pool: Pool { Pool(address: address, serverName: serverName) }

    /// A pool of connections: plain ones to an address, or TLS ones to it for one name.
    package struct Pool: Sendable, Hashable {
        package let address: SocketAddress
        package let serverName: String?
    }
}

/// A node's `http://` URL whose host is a name: the name to resolve, and the rest of a
/// `NodeAddress` (its `Host` field keeps the name).
package struct NodeName: Sendable, Hashable {
    /// The name to resolve.
    package let name: String
    package let port: UInt16
    /// The `Host` field: the name, with the port unless it is the scheme's.
    package let hostField: String
    package let basePath: String
    /// `https://`: the certificate must carry the name.
    package let tls: Bool

    /// `url` when its host is a name (letters, digits, `-` and `.`, at most 253), else nil.
    package init?(_ url: String) {
        guard let parts = NodeURL(url), SocketAddress(host: parts.host, port: parts.port) == nil, parts.host.utf8.count <= 253,
            parts.host.utf8.allSatisfy(Self.isNameByte),
            parts.host.utf8.first != UInt8(ascii: "-"), parts.host.utf8.first != UInt8(ascii: ".")
        else { return nil }
        name = parts.host.lowercased()
        port = parts.port
        hostField = parts.hostField
        basePath = parts.basePath
        tls = parts.tls
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    /// The node at one of its addresses.
    package func at(_ address: SocketAddress) -> NodeAddress {
        NodeAddress(address: address.with(port: port), host: hostField, basePath: basePath, serverName: tls ? name : nil)
    }
}

/// An `http://` or `https://` URL taken apart: host as written (brackets kept), port, `Host`
/// field, path, and for TLS the name to verify.
struct NodeURL {
    let host: String
    let port: UInt16
    let hostField: String
    let basePath: String
    let tls: Bool

    /// For `https://`: the host without brackets (the certificate's name or address).
    var serverName: String? { tls ? String(host.utf8.first == UInt8(ascii: "[") ? host.dropFirst().dropLast() : host[...]) : nil }

    init?(_ url: String) {
        var u = url.utf8[...]
        guard u.count > 7 else { return nil }
        for expected in "http".utf8 {
            guard let b = u.popFirst(), (b >= 0x41 && b <= 0x5A ? b | 0x20 : b) == expected else { return nil }
        }
        if let b = u.first, b | 0x20 == UInt8(ascii: "s") {
            u = u.dropFirst()
            tls = true
        } else {
            tls = false
        }
        for expected in "://".utf8 {
            guard let b = u.popFirst(), b == expected else { return nil }
        }
        let authorityEnd = u.firstIndex(of: UInt8(ascii: "/")) ?? u.endIndex
        let authority = u[..<authorityEnd]
        let path = u[authorityEnd...]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")), !authority.contains(UInt8(ascii: "?")),
            !authority.contains(UInt8(ascii: "#"))
        else { return nil }
        var hostPart = authority
        var portPart = authority[authority.endIndex...]
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if let first = after.first {
                guard first == UInt8(ascii: ":") else { return nil }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { return nil }
        let defaultPort = tls ? 443 : 80
        var port = defaultPort
        if !portPart.isEmpty {
            guard portPart.count <= 5 else { return nil }
            port = 0
            for b in portPart {
                guard b >= 0x30 && b <= 0x39 else { return nil }
                port = port * 10 + Int(b - 0x30)
            }
            guard port > 0 && port <= 65535 else { return nil }
        }
        guard path.allSatisfy({ ByteClass.isTarget($0) && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }) else { return nil }
        let hostText = String(decoding: hostPart, as: UTF8.self)
        host = hostText
        self.port = UInt16(port)
        hostField = port == defaultPort ? hostText : "\(hostText):\(port)"
        var base = path
        if base.last == UInt8(ascii: "/") { base = base.dropLast() }
        basePath = String(decoding: base, as: UTF8.self)
    }
}
