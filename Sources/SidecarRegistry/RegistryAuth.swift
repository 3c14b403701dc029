import SidecarCluster
import SidecarHTTP
import SidecarServer

/// The registry's gate: 401 unless the request carries a token signed with the registry's
/// secret. The check awaits the keys, so the route answers later; the handler then runs back
/// on the event loop the request came in on.
struct RegistryAuthMiddleware: Middleware {
    let keys: HS256Keys

    func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
        let keys = keys
        return { request, responder in
            guard let header = request.fields["Authorization"], let bearer = BearerToken.extract(header) else { return .now(Self.refusal) }
            let token = String(bearer)
            Task {
                guard await keys.verify(token) != nil else { return responder.respond(Self.refusal) }
                responder.resume(next, request)
            }
            return .later
        }
    }

    static let refusal = HTTPResponse.error(
        401, code: "unauthorized", message: "a valid bearer token is required",
        fields: HTTPFields([("WWW-Authenticate", #"Bearer error="invalid_token""#)]))
}
