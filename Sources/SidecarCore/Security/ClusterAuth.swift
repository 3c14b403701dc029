/// The bearer-JWT gate of the cluster API.
public enum ClusterAuth {
    /// Wraps `handler`: 401 with `WWW-Authenticate: Bearer error="invalid_token"` unless the
    /// request carries a token `verifier` accepts. The answer names why, never the token.
    public static func require(_ verifier: JWTVerifier, _ handler: @escaping Router.AsyncHandler) -> Router.AsyncHandler {
        { request in
            guard let header = request.fields["Authorization"], header.count > 7,
                header.prefix(7).lowercased() == "bearer "
            else {
                return refusal(.missing)
            }
            do throws(TokenRejection) {
                _ = try await verifier.verify(String(header.dropFirst(7)))
            } catch {
                return refusal(error)
            }
            return await handler(request)
        }
    }

    static func refusal(_ reason: TokenRejection) -> HTTPResponse {
        let message = reason == .noKeysConfigured
            ? "no JWT_SECRET or JWT_PUBLIC_KEY_FILE is configured: the cluster API refuses every call but health"
            : "invalid token: \(reason.label)"
        return .error(401, code: "invalid_token", message: message, fields: HTTPFields([("WWW-Authenticate", #"Bearer error="invalid_token""#)]))
    }
}
