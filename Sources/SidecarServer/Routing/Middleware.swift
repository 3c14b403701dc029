import Logging
import SidecarHTTP
import SidecarPosix

/// The route a handler serves, as middleware sees it when it wraps the handler: bounded values,
/// fit for metric labels.
package struct RouteInfo: Sendable, Equatable {
    /// The route pattern (`/servers/{serverId}`), or `unmatched` for the 404 answer.
    package var pattern: String
    /// The method the route serves; nil for the 404 and 405 answers, which serve any.
    package var method: String?

    package init(pattern: String, method: String?) {
        self.pattern = pattern
        self.method = method
    }

    /// What answers paths that match no route.
    package static let unmatched = RouteInfo(pattern: "unmatched", method: nil)
}

/// A concern around handlers (auth, correlation ids, access log, metrics), outside the server.
/// `wrap` runs once per route when the listener is built; what it returns runs per request.
package protocol Middleware: Sendable {
    /// `next` with this concern around it.
    func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler

    /// The answer this concern would give from the head alone, for a request that waits for
    /// `100 Continue` (a missing or wrong token): it is sent at once and the body never asked
    /// for. Nil (the default) when the head does not decide it.
    func earlyAnswer(to request: HTTPRequest) -> HTTPResponse?
}

extension Middleware {
    package func earlyAnswer(to request: HTTPRequest) -> HTTPResponse? { nil }
}

extension Reply {
    /// The same reply with `transform` applied to its answer, now or when it comes.
    @inline(__always)
    package static func passing(
        _ request: HTTPRequest, _ responder: Responder, through next: HTTPHandler,
        _ transform: @escaping @Sendable (HTTPResponse) -> HTTPResponse
    ) -> Reply {
        // The handler may answer later, so it gets a responder that applies `transform`: two
        // allocations per request with `transform`'s context. Fine for the access log (debug
        // only); metrics use the server's `RequestObserver`, which costs none.
        switch next(request, responder.map(transform)) {
        case .now(let response): return .now(transform(response))
        case .later: return .later
        }
    }
}

/// Puts the request's correlation id (the `x-correlation-id` it carried, or one made for it:
/// `HTTPRequest.correlation`) on the answer, now or later. Every listener runs it first.
package struct CorrelationMiddleware: Middleware {
    package init() {}

    package func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
        { request, responder in
            let id = request.correlation
            let reply = next(request, responder.correlated(id))
            switch consume reply {
            case .now(var response):
                response.correlationID = id
                return .now(response)
            case .later:
                return .later
            }
        }
    }
}

/// Logs every request at debug level: method, path, status, correlation id. Installed only
/// when the log level is debug or finer, so it costs nothing otherwise.
package struct AccessLogMiddleware: Middleware {
    let logger: Logger

    package init(logger: Logger) { self.logger = logger }

    package func wrap(_ next: @escaping HTTPHandler, route: RouteInfo) -> HTTPHandler {
        let logger = logger
        return { request, responder in
            .passing(request, responder, through: next) { response in
                logger.debug(
                    "request",
                    metadata: [
                        "method": "\(request.method)", "path": "\(request.path)", "route": "\(route.pattern)",
                        "status": "\(response.status)", "correlation_id": "\(request.correlation)",
                    ])
                return response
            }
        }
    }
}
