import SidecarHTTP
import SidecarServer
import SidecarSettings

/// The local API's optional bearer token (`LOCAL_API_TOKEN`): 401 unless the request carries
/// `Authorization: Bearer <token>`. The probes stay outside it. The token is read at each
/// request, so a settings refresh (SIGHUP) may set, change or remove it; with none, every call passes
/// (the listener is loopback-only by default).
package struct LocalAuthMiddleware: Middleware {
    private let token: Refreshable<Secret?>

    /// The check for the token `token` holds now and after each settings refresh.
    package init(token: Refreshable<Secret?>) {
        self.token = token
    }

    /// The check for a fixed `token`.
    package init(token: Secret) {
        self.token = Refreshable(token)
    }

    static let refusal = HTTPResponse.error(
        401, code: "unauthorized", message: "a valid bearer token is required", fields: HTTPFields([("WWW-Authenticate", "Bearer")]))

    package func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
        let token = token
        return { request, responder in
            guard let expected = token.value else { return next(request, responder) }
            if let given = request.fields["Authorization"], Self.isBearer(given, expected) {
                return next(request, responder)
            }
            return .now(Self.refusal)
        }
    }

    package func earlyAnswer(to request: HTTPRequest) -> HTTPResponse? {
        guard let expected = token.value else { return nil }
        if let given = request.fields["Authorization"], Self.isBearer(given, expected) { return nil }
        return Self.refusal
    }

    /// Whether `given` is a bearer credential (any case, one or more spaces) holding exactly
    /// `token`, compared over the whole secret (`SecretComparison`).
    static func isBearer(_ given: String, _ token: Secret) -> Bool {
        guard let presented = BearerToken.extract(given) else { return false }
        return SecretComparison.equals(presented, token)
    }
}
