import SidecarHTTP
import SidecarServer

/// The bearer-JWT gate of the cluster API: 401 with `WWW-Authenticate: Bearer
/// error="invalid_token"` unless the request carries a cluster token (the contract's: a JWT the
/// verifier accepts whose claims include `"cluster": true`; a plain mIT token is not one). The answer
/// names why, never the token. The check awaits the verifier, so the route answers later; the
/// handler itself then runs back on the event loop the request came in on.
package struct ClusterAuthMiddleware: Middleware {
    let verifier: Refreshable<JWTVerifier>

    /// The gate for the verifier `verifier` holds now and after each settings refresh.
    package init(verifier: Refreshable<JWTVerifier>) { self.verifier = verifier }

    package init(verifier: JWTVerifier) { self.verifier = Refreshable(verifier) }

    package func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
        let slot = verifier
        return { request, responder in
            guard let header = request.fields["Authorization"], let bearer = BearerToken.extract(header) else {
                return .now(Self.refusal(.missing))
            }
            let token = String(bearer)
            let verifier = slot.value
            Task {
                do throws(TokenRejection) {
                    let claims = try await verifier.verify(token)
                    guard claims.cluster == true else { throw TokenRejection.notClusterToken }
                } catch {
                    return responder.respond(Self.refusal(error))
                }
                responder.resume(next, request)
            }
            return .later
        }
    }

    /// A request without a bearer token is refused from its head; a token's signature and
    /// claims are checked once the body came (the check may wait for key material).
    package func earlyAnswer(to request: HTTPRequest) -> HTTPResponse? {
        guard let header = request.fields["Authorization"], BearerToken.extract(header) != nil else { return Self.refusal(.missing) }
        return nil
    }

    static func refusal(_ reason: TokenRejection) -> HTTPResponse {
        let message =
            reason == .noKeysConfigured
            ? "no JWT_SECRET or JWT_PUBLIC_KEY_FILE is configured: the cluster API refuses every call but health"
            : "invalid token: \(reason)"
        return .error(
            401, code: "invalid_token", message: message, fields: HTTPFields([("WWW-Authenticate", #"Bearer error="invalid_token""#)]))
    }
}
