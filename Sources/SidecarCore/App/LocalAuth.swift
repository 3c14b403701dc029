/// The local API's optional bearer token (`LOCAL_API_TOKEN`).
public enum LocalAuth {
    /// Wraps `handler` so it answers 401 unless the request carries `Bearer <token>`.
    /// With no token configured the handler runs as is (the listener is loopback-only).
    public static func require(_ token: Secret?, _ handler: @escaping Router.SyncHandler) -> Router.SyncHandler {
        guard let token else { return handler }
        let expected = Array(("Bearer " + token.value).utf8)
        return { request in
            guard let given = request.fields["Authorization"], constantTimeEquals(Array(given.utf8), expected) else {
                return .error(
                    401, code: "unauthorized", message: "a valid bearer token is required",
                    fields: HTTPFields([("WWW-Authenticate", "Bearer")]))
            }
            return handler(request)
        }
    }

    /// The same check for a handler that answers later.
    public static func requireAsync(_ token: Secret?, _ handler: @escaping Router.AsyncHandler) -> Router.AsyncHandler {
        guard let token else { return handler }
        let check = require(token) { _ in HTTPResponse(status: 200) }
        return { request in
            let verdict = check(request)
            return verdict.status == 401 ? verdict : await handler(request)
        }
    }

    /// Compares without an early exit, so timing does not tell how much matched.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for k in 0..<max(a.count, b.count) {
            diff |= (k < a.count ? a[k] : 0) ^ (k < b.count ? b[k] : 0)
        }
        return diff == 0
    }
}
