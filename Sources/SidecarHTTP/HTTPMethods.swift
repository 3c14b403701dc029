/// The IANA HTTP Method Registry (https://www.iana.org/assignments/http-methods), as of this
/// build: a request with any other method is answered 501 (RFC 9110 §9.1). A registered method
/// that a route does not serve is 405 with `Allow`.
package enum HTTPMethods {
    /// Every registered method, with whether it is idempotent (RFC 9110 §9.2.2 and the registry).
    package static let registry: [String: Bool] = [
        "ACL": true, "BASELINE-CONTROL": true, "BIND": true, "CHECKIN": true, "CHECKOUT": true, "CONNECT": false, "COPY": true,
        "DELETE": true, "GET": true, "HEAD": true, "LABEL": true, "LINK": true, "LOCK": false, "MERGE": true, "MKACTIVITY": true,
        "MKCALENDAR": true, "MKCOL": true, "MKREDIRECTREF": true, "MKWORKSPACE": true, "MOVE": true, "OPTIONS": true,
        "ORDERPATCH": true, "PATCH": false, "POST": false, "PRI": true, "PROPFIND": true, "PROPPATCH": true, "PUT": true,
        "QUERY": true, "REBIND": true, "REPORT": true, "SEARCH": true, "TRACE": true, "UNBIND": true, "UNCHECKOUT": true,
        "UNLINK": true, "UNLOCK": true, "UPDATE": true, "UPDATEREDIRECTREF": true, "VERSION-CONTROL": true,
    ]

    /// Whether `method` is registered.
    @inline(__always)
    package static func isRegistered(_ method: String) -> Bool {
        switch method {
        case "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS": true
        default: registry[method] != nil
        }
    }

    /// Whether `method` is registered as idempotent.
    package static func isIdempotent(_ method: String) -> Bool { registry[method] ?? false }
}
