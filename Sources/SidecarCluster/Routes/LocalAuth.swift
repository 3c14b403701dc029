import SidecarHTTP

/// The local API's optional bearer token (`LOCAL_API_TOKEN`): 401 unless the request carries
/// `Authorization: Bearer <token>`. The probes stay outside it.
public struct LocalAuthMiddleware: Middleware {
    private let expected: [UInt8]

    /// The check for `token`.
    public init(token: Secret) {
        expected = Array(("Bearer " + token.value).utf8)
    }

    /// The middleware list for an optional token: empty when none is configured (the listener
    /// is loopback-only then).
    public static func optional(_ token: Secret?) -> [any Middleware] {
        token.map { [LocalAuthMiddleware(token: $0)] } ?? []
    }

    static let refusal = HTTPResponse.error(
        401, code: "unauthorized", message: "a valid bearer token is required", fields: HTTPFields([("WWW-Authenticate", "Bearer")]))

    public func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
        let expected = expected
        return { request, responder in
            if let given = request.fields["Authorization"], Self.constantTimeEquals(Array(given.utf8), expected) {
                return next(request, responder)
            }
            return .now(Self.refusal)
        }
    }

    /// Compares without an early exit, so timing does not tell how much matched.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for k in 0..<max(a.count, b.count) {
            diff |= (k < a.count ? a[k] : 0) ^ (k < b.count ? b[k] : 0)
        }
        return diff == 0
    }
}
