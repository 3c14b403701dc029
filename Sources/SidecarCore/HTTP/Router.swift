/// Maps method and path to a handler; unknown paths are 404, wrong methods 405 with `Allow`.
///
/// Paths are literal segments, `{name}` for one segment, or a final `{name...}` for the rest.
/// A GET route answers HEAD too.
public struct Router: Sendable {
    /// A handler that answers at once on the event loop: it must not block.
    public typealias SyncHandler = @Sendable (HTTPRequest) -> HTTPResponse
    /// A handler that may wait (fan-out, registry calls); it runs as a task off the loop.
    public typealias AsyncHandler = @Sendable (HTTPRequest) async -> HTTPResponse

    /// A handler that starts work on the event loop (it must not block) and answers later,
    /// from any thread, through the `Responder`: no task, no extra thread hand-over.
    public typealias DeferredHandler = @Sendable (HTTPRequest, Responder) -> Void

    /// How a route answers.
    public enum Handler: Sendable {
        case sync(SyncHandler)
        case async(AsyncHandler)
        case deferred(DeferredHandler)
    }

    /// What the router found for a request.
    public enum Resolution: Sendable {
        case found(Handler, parameters: [String: String])
        case notFound
        case methodNotAllowed(allow: String)
    }

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    private struct Pattern: Sendable {
        var segments: [Segment]
        var handlers: [(method: String, handler: Handler)]
    }

    /// Literal paths, scanned in order: for the handful of routes a listener has, comparing
    /// strings beats hashing the path (and method) on every request.
    private var exact: [(path: String, handlers: [(method: String, handler: Handler)])] = []
    private var patterns: [Pattern] = []

    public init() {}

    /// Adds a route answered at once on the loop.
    public mutating func on(_ method: String, _ path: String, _ handler: @escaping SyncHandler) {
        add(method, path, .sync(handler))
    }

    /// Adds a route answered later, off the loop.
    public mutating func onAsync(_ method: String, _ path: String, _ handler: @escaping AsyncHandler) {
        add(method, path, .async(handler))
    }

    /// Adds a route that answers through a `Responder`.
    public mutating func onDeferred(_ method: String, _ path: String, _ handler: @escaping DeferredHandler) {
        add(method, path, .deferred(handler))
    }

    /// Adds `handler` for `method` on `path`.
    public mutating func add(_ method: String, _ path: String, _ handler: Handler) {
        let segments = Self.split(path).map { s -> Segment in
            if s.hasPrefix("{") && s.hasSuffix("...}") { return .rest(String(s.dropFirst().dropLast(4))) }
            if s.hasPrefix("{") && s.hasSuffix("}") { return .parameter(String(s.dropFirst().dropLast())) }
            return .literal(s)
        }
        if segments.allSatisfy({ if case .literal = $0 { true } else { false } }) {
            if let k = exact.firstIndex(where: { $0.path == path }) {
                exact[k].handlers.removeAll { $0.method == method }
                exact[k].handlers.append((method, handler))
            } else {
                exact.append((path, [(method, handler)]))
            }
        } else if let k = patterns.firstIndex(where: { $0.segments == segments }) {
            patterns[k].handlers.removeAll { $0.method == method }
            patterns[k].handlers.append((method, handler))
        } else {
            patterns.append(Pattern(segments: segments, handlers: [(method, handler)]))
        }
    }

    /// Finds the handler for `method` and `path`.
    public func resolve(method: String, path: String) -> Resolution {
        for route in exact where route.path == path {
            return pick(route.handlers, method, [:])
        }
        guard !patterns.isEmpty else { return .notFound }
        let parts = Self.split(path)
        for pattern in patterns {
            if let params = Self.match(pattern.segments, parts) {
                return pick(pattern.handlers, method, params)
            }
        }
        return .notFound
    }

    private func pick(_ handlers: [(method: String, handler: Handler)], _ method: String, _ params: [String: String]) -> Resolution {
        for h in handlers where h.method == method { return .found(h.handler, parameters: params) }
        if method == "HEAD" {
            for h in handlers where h.method == "GET" { return .found(h.handler, parameters: params) }
        }
        var allowed = Set(handlers.map(\.method))
        if allowed.contains("GET") { allowed.insert("HEAD") }
        return .methodNotAllowed(allow: allowed.sorted().joined(separator: ", "))
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
