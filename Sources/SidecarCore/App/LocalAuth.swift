/// The local API's optional bearer token (`LOCAL_API_TOKEN`).
public enum LocalAuth {
    /// Wraps `handler` so it answers 401 unless the request carries `Bearer <token>`.
    /// With no token configured the handler runs as is (the listener is loopback-only).
    public static func require(_ token: Secret?, _ handler: @escaping Router.SyncHandler) -> Router.SyncHandler {
        guard let check = gate(token) else { return handler }
        return { request in check(request) ?? handler(request) }
    }

    /// The same check for a handler that answers later.
    public static func requireAsync(_ token: Secret?, _ handler: @escaping Router.AsyncHandler) -> Router.AsyncHandler {
        guard let check = gate(token) else { return handler }
        return { request in
            if let refusal = check(request) { return refusal }
            return await handler(request)
        }
    }

    /// The check itself: the 401 answer for a request without `Bearer <token>`, nil to go on.
    /// nil when no token is configured (every request goes on).
    public static func gate(_ token: Secret?) -> (@Sendable (HTTPRequest) -> HTTPResponse?)? {
        guard let token else { return nil }
        let expected = Array(("Bearer " + token.value).utf8)
        return { request in
            if let given = request.fields["Authorization"], constantTimeEquals(Array(given.utf8), expected) { return nil }
            return .error(
                401, code: "unauthorized", message: "a valid bearer token is required", fields: HTTPFields([("WWW-Authenticate", "Bearer")]))
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
