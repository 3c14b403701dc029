import SidecarHTTP
import SidecarPosix
import SidecarServer

/// The local API's guard against the user's own browser: without a token (the default) a page
/// on any site could otherwise `POST /ecv/disable` or start a fan-out through a no-cors request,
/// and a site that rebinds its name to 127.0.0.1 could read `/status`. A request is refused with
/// 403 when:
/// - its `Host` names neither `localhost`, a loopback address nor the listener's own address
///   (any address literal when the listener is on a wildcard): DNS rebinding sends the
///   attacker's name there (`host_not_allowed`);
/// - with `checkOrigin`, its `Origin` is not this very origin (`http://` and the `Host` it
///   sent), or its `Sec-Fetch-Site` says `cross-site` or `same-site` (another port of this
///   host counts as another site here): browsers say so even where they omit `Origin`
///   (`cross_origin`).
///
/// Clients that are not browsers (curl, the application, `cluster-sidecar status`) send no
/// `Origin` and a loopback `Host`, and pass. The probes are outside this guard: orchestrators
/// send a `Host` of their own.
package struct LocalOriginMiddleware: Middleware {
    private let listener: SocketAddress
    private let checkOrigin: Bool

    /// The guard of a local listener bound to `listener`; `checkOrigin` false leaves only the
    /// `Host` check (the static documents, which a link from another page may open).
    package init(listener: SocketAddress, checkOrigin: Bool = true) {
        self.listener = listener
        self.checkOrigin = checkOrigin
    }

    static let wrongHost = HTTPResponse.error(
        403, code: "host_not_allowed", message: "the local API answers only requests for localhost, a loopback address or its own address")
    static let crossOrigin = HTTPResponse.error(
        403, code: "cross_origin", message: "the local API refuses requests from another site's pages")

    package func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
        let guardRule = self
        return { request, responder in
            if let refusal = guardRule.refusal(request.fields) { return .now(refusal) }
            return next(request, responder)
        }
    }

    package func earlyAnswer(to request: HTTPRequest) -> HTTPResponse? { refusal(request.fields) }

    /// The refusal for a request with these fields, or nil when it may pass.
    package func refusal(_ fields: HTTPFields) -> HTTPResponse? {
        let host = fields["Host"]
        if let host, !Self.hostAllowed(host, listener: listener) { return Self.wrongHost }
        guard checkOrigin else { return nil }
        if let site = fields["Sec-Fetch-Site"], site.equalsIgnoringASCIICase("cross-site") || site.equalsIgnoringASCIICase("same-site") {
            return Self.crossOrigin
        }
        if let origin = fields["Origin"] {
            guard let host, origin.equalsIgnoringASCIICase("http://" + host) else { return Self.crossOrigin }
        }
        return nil
    }

    /// Whether a `Host` value (`name[:port]`, `[v6][:port]`) names this listener.
    static func hostAllowed(_ value: String, listener: SocketAddress) -> Bool {
        guard let name = hostName(value) else { return false }
        if name.equalsIgnoringASCIICase("localhost") { return true }
        guard let literal = SocketAddress(host: name, port: 0) else { return false }
        return literal.isLoopback || listener.isUnspecified || listener.sameHost(as: literal)
    }

    /// The host part of a `Host` value, without its port and a trailing dot; nil when malformed.
    package static func hostName(_ value: String) -> String? {
        var v = Substring(value)
        if v.hasPrefix("[") {
            guard let close = v.firstIndex(of: "]") else { return nil }
            let rest = v[v.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isASCIIDigit)) else { return nil }
            return String(v[v.index(after: v.startIndex)..<close])
        }
        if let colon = v.lastIndex(of: ":") {
            guard v[v.index(after: colon)...].allSatisfy(\.isASCIIDigit) else { return nil }
            v = v[..<colon]
        }
        if v.hasSuffix(".") { v = v.dropLast() }
        return v.isEmpty ? nil : String(v)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
