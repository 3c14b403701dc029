import SidecarHTTP

/// Maps method and path to a handler; it also answers what matches nothing: 404, or 405 with
/// `Allow` for a known path and a method it does not serve.
///
/// Paths are literal segments, `{name}` for one segment, or a final `{name...}` for the rest.
/// A GET route answers HEAD too. Middleware wraps handlers once, when routes are added
/// (`group`) or when the listener is built (`use`, applied by `prepared()`), never per request.
package struct Router: Sendable {
    /// A handler that answers at once on the event loop: it must not block.
    package typealias SyncHandler = @Sendable (HTTPRequest) -> HTTPResponse
    /// A handler that may wait (registry calls, JWT checks); it runs as a task off the loop.
    package typealias AsyncHandler = @Sendable (HTTPRequest) async -> HTTPResponse
    /// A handler that starts work on the event loop (it must not block) and answers later,
    /// from any thread, through the `Responder`: no task, no extra thread hand-over.
    package typealias DeferredHandler = @Sendable (HTTPRequest, Responder) -> Void

    /// What the router found for a request.
    package enum Resolution: Sendable {
        case found(HTTPHandler, parameters: [String: String])
        case notFound
        case methodNotAllowed(allow: String)
    }

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    /// A method's handler. A struct, not a tuple: a closure kept in a tuple inside an array is
    /// stored at its most general abstraction and called through reabstraction thunks that
    /// copy the request; a struct field keeps the closure's own calling convention.
    private struct Endpoint: Sendable {
        let method: String
        let handler: HTTPHandler
        /// The middleware around it (its groups' when added; the whole chain once prepared),
        /// asked for an early answer to a request that waits for `100 Continue`.
        var chain: [any Middleware] = []
    }

    private typealias Handlers = [Endpoint]

    private struct Pattern: Sendable {
        var path: String
        /// Its index in `routePatterns`, set by `prepared()` (0 until then).
        var id = 0
        var segments: [Segment]
        var handlers: Handlers
        /// The 405 answer's handler, made by `prepared()`.
        var refusal: Endpoint?
    }

    /// Literal paths, scanned in order: for the handful of routes a listener has, comparing
    /// strings beats hashing the path (and method) on every request.
    private var exact: [Pattern] = []
    private var patterns: [Pattern] = []
    /// Middleware of the enclosing `group` calls, outermost first.
    private var groupStack: [any Middleware] = []
    /// Middleware for every route and for the 404/405 answers, outermost first.
    private var global: [any Middleware] = []
    private var notFound: HTTPHandler = Router.notFoundHandler
    private var isPrepared = false
    /// The route patterns by id, fixed by `prepared()`: 0 is `unmatched`, then each path in
    /// the order it was first added. Metric labels, never raw paths.
    package private(set) var routePatterns: [String] = [RouteInfo.unmatched.pattern]

    package init() {}

    // MARK: building

    /// Adds a route answered at once on the loop.
    package mutating func on(_ method: String, _ path: String, _ handler: @escaping SyncHandler) {
        add(method, path) { request, _ in .now(handler(request)) }
    }

    /// Adds a route answered later, by a task off the loop.
    package mutating func onAsync(_ method: String, _ path: String, _ handler: @escaping AsyncHandler) {
        add(method, path) { request, responder in
            Task { responder.respond(await handler(request)) }
            return .later
        }
    }

    /// Adds a route that answers through a `Responder`.
    package mutating func onDeferred(_ method: String, _ path: String, _ handler: @escaping DeferredHandler) {
        add(method, path) { request, responder in
            handler(request, responder)
            return .later
        }
    }

    /// Adds `handler` for `method` on `path`, inside the middleware of the enclosing groups.
    package mutating func add(_ method: String, _ path: String, _ handler: @escaping HTTPHandler) {
        precondition(!isPrepared, "routes are added before the listener is built")
        let route = RouteInfo(pattern: path, method: method)
        let wrapped = Self.wrap(handler, in: groupStack, route: route)
        let segments = Self.split(path).map { s -> Segment in
            if s.hasPrefix("{") && s.hasSuffix("...}") { return .rest(String(s.dropFirst().dropLast(4))) }
            if s.hasPrefix("{") && s.hasSuffix("}") { return .parameter(String(s.dropFirst().dropLast())) }
            return .literal(s)
        }
        let literal = segments.allSatisfy { if case .literal = $0 { true } else { false } }
        if literal {
            Self.insert(&exact, path, segments, method, wrapped, groupStack)
        } else {
            Self.insert(&patterns, path, segments, method, wrapped, groupStack)
        }
    }

    /// Adds the routes `build` adds inside `middleware` (outermost first), e.g. an auth check.
    package mutating func group(_ middleware: any Middleware..., build: (inout Router) -> Void) {
        group(middleware, build: build)
    }

    /// The same with a list (an empty one adds the routes as they are).
    package mutating func group(_ middleware: [any Middleware], build: (inout Router) -> Void) {
        groupStack.append(contentsOf: middleware)
        build(&self)
        groupStack.removeLast(middleware.count)
    }

    /// Adds middleware around every route, and around the 404 and 405 answers.
    package mutating func use(_ middleware: any Middleware) {
        precondition(!isPrepared, "middleware is added before the listener is built")
        global.append(middleware)
    }

    /// The router with `outer` and then its own global middleware applied to every handler;
    /// the server calls it once per listener. Calling it again changes nothing.
    package func prepared(outer: [any Middleware] = []) -> Router {
        guard !isPrepared else { return self }
        var r = self
        let chain = outer + global
        func wrap(_ handler: @escaping HTTPHandler, _ route: RouteInfo) -> HTTPHandler {
            Self.wrap(handler, in: chain, route: route)
        }
        for list in [\Router.exact, \Router.patterns] as [WritableKeyPath<Router, [Pattern]>] {
            for k in r[keyPath: list].indices {
                var p = r[keyPath: list][k]
                p.id = r.routePatterns.count
                r.routePatterns.append(p.path)
                p.handlers = p.handlers.map {
                    Endpoint(
                        method: $0.method, handler: wrap($0.handler, RouteInfo(pattern: p.path, method: $0.method)), chain: chain + $0.chain
                    )
                }
                p.refusal = Endpoint(
                    method: "", handler: wrap(Self.refusal(allow: Self.allow(p.handlers)), RouteInfo(pattern: p.path, method: nil)))
                r[keyPath: list][k] = p
            }
        }
        r.notFound = wrap(Self.notFoundHandler, .unmatched)
        r.isPrepared = true
        return r
    }

    // MARK: serving

    /// The handler for `method` and `path` with its path parameters: a route's, or the 404/405
    /// answer's. The server's per-request call: literal paths are found by index, with no copy.
    package func handler(method: String, path: String) -> (HTTPHandler, [String: String]) {
        let (handler, parameters, _) = route(method: method, path: path)
        return (handler, parameters)
    }

    /// The same, with the id of the matched route in `routePatterns` (0: unmatched).
    @inline(__always)
    package func route(method: String, path: String) -> (HTTPHandler, [String: String], Int) {
        for k in exact.indices where exact[k].path == path {
            return ((Self.pick(exact[k].handlers, method) ?? refusal(exact[k])).handler, Dictionary(), exact[k].id)
        }
        guard let (k, parameters) = matchPattern(path) else { return (notFound, [:], 0) }
        return ((Self.pick(patterns[k].handlers, method) ?? refusal(patterns[k])).handler, parameters, patterns[k].id)
    }

    /// The final answer to give a request that waits for `100 Continue` before it sends its
    /// body, when its head already decides it (RFC 9110 §10.1.1): 404 for no route, 405 for a
    /// method the route does not serve, or what a middleware's `earlyAnswer` says (a missing
    /// token); nil to ask for the body.
    package func earlyAnswer(to request: HTTPRequest) -> HTTPResponse? {
        let handlers: Handlers
        if let k = exact.firstIndex(where: { $0.path == request.path }) {
            handlers = exact[k].handlers
        } else if let (k, _) = matchPattern(request.path) {
            handlers = patterns[k].handlers
        } else {
            return HTTPResponse.error(404, code: "not_found", message: "no such endpoint")
        }
        guard let endpoint = Self.pick(handlers, request.method) else {
            return HTTPResponse.error(
                405, code: "method_not_allowed", message: "method not allowed here", fields: HTTPFields([("Allow", Self.allow(handlers))]))
        }
        for m in endpoint.chain {
            if let answer = m.earlyAnswer(to: request) { return answer }
        }
        return nil
    }

    /// What matches `method` and `path` (tests and tools).
    package func resolve(method: String, path: String) -> Resolution {
        let handlers: Handlers
        var parameters: [String: String] = [:]
        if let k = exact.firstIndex(where: { $0.path == path }) {
            handlers = exact[k].handlers
        } else if let (k, p) = matchPattern(path) {
            handlers = patterns[k].handlers
            parameters = p
        } else {
            return .notFound
        }
        if let h = Self.pick(handlers, method) { return .found(h.handler, parameters: parameters) }
        return .methodNotAllowed(allow: Self.allow(handlers))
    }

    // MARK: matching

    private func refusal(_ pattern: Pattern) -> Endpoint {
        pattern.refusal ?? Endpoint(method: "", handler: Self.refusal(allow: Self.allow(pattern.handlers)))
    }

    /// `handler` inside `chain` (outermost first), composed with a plain loop: a generic
    /// `reduce` over closures would store each layer abstracted and add thunks to every call.
    private static func wrap(_ handler: @escaping HTTPHandler, in chain: [any Middleware], route: RouteInfo) -> HTTPHandler {
        var wrapped = handler
        for m in chain.reversed() { wrapped = m.wrap(wrapped, route: route) }
        return wrapped
    }

    private func matchPattern(_ path: String) -> (Int, [String: String])? {
        guard !patterns.isEmpty else { return nil }
        let parts = Self.split(path)
        for k in patterns.indices {
            if let params = Self.match(patterns[k].segments, parts) { return (k, params) }
        }
        return nil
    }

    private static func insert(
        _ list: inout [Pattern], _ path: String, _ segments: [Segment], _ method: String, _ handler: @escaping HTTPHandler,
        _ chain: [any Middleware]
    ) {
        let endpoint = Endpoint(method: method, handler: handler, chain: chain)
        if let k = list.firstIndex(where: { $0.segments == segments }) {
            list[k].handlers.removeAll { $0.method == method }
            list[k].handlers.append(endpoint)
        } else {
            list.append(Pattern(path: path, segments: segments, handlers: [endpoint]))
        }
    }

    private static func pick(_ handlers: Handlers, _ method: String) -> Endpoint? {
        for h in handlers where h.method == method { return h }
        if method == "HEAD" {
            for h in handlers where h.method == "GET" { return h }
        }
        return nil
    }

    private static func allow(_ handlers: Handlers) -> String {
        var allowed = Set(handlers.map(\.method))
        if allowed.contains("GET") { allowed.insert("HEAD") }
        return allowed.sorted().joined(separator: ", ")
    }

    private static let notFoundHandler: HTTPHandler = { _, _ in .now(.error(404, code: "not_found", message: "no such endpoint")) }

    private static func refusal(allow: String) -> HTTPHandler {
        let answer = HTTPResponse.error(
            405, code: "method_not_allowed", message: "method not allowed here", fields: HTTPFields([("Allow", allow)]))
        return { _, _ in .now(answer) }
    }

    private static func match(_ segments: [Segment], _ parts: [String]) -> [String: String]? {
        var params: [String: String] = [:]
        for (k, segment) in segments.enumerated() {
            switch segment {
            case .rest(let name):
                guard k < parts.count else { return nil }
                params[name] = parts[k...].joined(separator: "/")
                return params
            case .literal(let s):
                guard k < parts.count, parts[k] == s else { return nil }
            case .parameter(let name):
                guard k < parts.count, !parts[k].isEmpty else { return nil }
                params[name] = parts[k]
            }
        }
        return parts.count == segments.count ? params : nil
    }

    private static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
    }
}
